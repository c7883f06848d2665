Feature: The clinical review's findings - what a careful clinician expects for each
  A clinical review of the rulebook found drafts that would harm patients. Each finding is a
  scenario here, stated as what a careful clinician expects the draft to say.

  Scenario: A 1-year-old with IBS-type symptoms is out of scope; no diet or probiotic trial
    Given a patient aged 1
    And the patient has IBS
    And the patient has bloating
    And abdominal pain score is 6
    And celiac serology negative
    And no GI alarm features
    And no probiotic cautions
    When the plan is drafted
    Then the plan suggests safety.out_of_scope with priority urgent
    And the plan suggests referral.paediatric
    And the plan does not suggest diet.*
    And the plan does not suggest probiotic.*
    And the plan does not suggest referral.dietitian

  Scenario Outline: A child or adolescent with PHQ-9 12 is not drafted an SSRI
    Given a patient aged <age>
    And PHQ-9 total 12 with item 9 0
    And the patient does not take an SSRI
    When the plan is drafted
    Then the plan suggests referral.paediatric
    And the plan does not suggest medication.review
    And the plan does not suggest referral.mental_health
    And no suggestion proposes an antidepressant

    Examples:
      | age |
      | 8   |
      | 14  |

  Scenario: 180 mg of caffeine in an 8-year-old is held for paediatric advice, not passed as fine
    Given a patient aged 8
    And caffeine mg per day is 180.0
    When the plan is drafted
    Then the plan suggests safety.out_of_scope
    And diet.reduce_caffeine is suppressed because "Outside the population"

  Scenario: 180 mg of caffeine in a 14-year-old is above the adolescent limit
    Given a patient aged 14
    And caffeine mg per day is 180.0
    When the plan is drafted
    Then the plan suggests diet.reduce_caffeine
    And the title of diet.reduce_caffeine mentions "100 mg/day"

  Scenario: Adult activity and sleep targets are not applied to a 14-year-old
    Given a patient aged 14
    And exercise minutes per week is 300
    And sleep hours is 7.5
    When the plan is drafted
    Then the title of exercise.aerobic mentions "60 minutes"
    And the title of sleep.hygiene mentions "8-10 hours"

  Scenario: 72 years old with 8 weeks of new bloating and irregular bowel - evaluate first
    Given a patient aged 72
    And the patient has IBS
    And the patient has bloating
    And the patient has irregular bowel movements
    And symptom weeks is 8
    And abdominal pain score is 6
    And celiac serology negative
    And no GI alarm features
    And no probiotic cautions
    When the plan is drafted
    Then the plan suggests referral.urgent_gi with priority urgent
    And the plan does not suggest diet.low_fodmap_trial
    And the plan does not suggest probiotic.trial

  Scenario: A 58-year-old woman with new bloating gets a CA125
    Given a patient aged 58
    And the patient is female
    And the patient has bloating
    And symptom weeks is 6
    When the plan is drafted
    Then the plan suggests lab.ca125 with priority urgent
    And the plan suggests referral.urgent_gi with priority urgent

  Scenario: CRP 150 mg/L with abdominal pain stops the trials and is not "repeat in 2 weeks"
    Given a patient aged 40
    And the patient has IBS
    And abdominal pain score is 6
    And celiac serology negative
    And no GI alarm features
    And no probiotic cautions
    And CRP 150 mg/L
    When the plan is drafted
    Then the plan suggests referral.urgent_gi with priority urgent
    And the plan does not suggest diet.low_fodmap_trial
    And the plan does not suggest probiotic.trial
    And the plan does not suggest lab.repeat_crp
    And the plan suggests lab.inflammatory_workup

  Scenario: Critically ill with a central line, already on a probiotic, after antibiotics
    Given a patient aged 60
    And the patient is critically ill
    And the patient has a central venous catheter
    And the patient takes a probiotic
    And the patient takes recent antibiotics
    And the patient has diarrhoea
    When the plan is drafted
    Then the plan suggests medication.review with priority urgent
    And the plan suggests lab.c_difficile with priority urgent
    And the plan does not suggest diet.fiber
    And the plan does not suggest probiotic.trial
    And education.adjunct_not_cure is suppressed because "no probiotic or fermented-food advice"

  Scenario: Severe chronic IBS with every alarm feature absent gets the low-FODMAP trial
    Given a patient aged 40
    And the patient has IBS
    And symptom weeks is 30
    And abdominal pain score is 8
    And celiac serology negative
    And no GI alarm features
    And no probiotic cautions
    When the plan is drafted
    Then the plan suggests diet.low_fodmap_trial
    And the plan does not suggest referral.urgent_gi

  Scenario: SSRI with an MAOI
    Given a patient aged 40
    And the patient takes an SSRI
    And the patient takes an MAOI
    When the plan is drafted
    Then the plan suggests medication.interaction_check with priority critical

  Scenario: SSRI with St John's wort
    Given a patient aged 40
    And the patient takes an SSRI
    And the patient takes St John's wort
    When the plan is drafted
    Then the plan suggests medication.interaction_check with priority urgent

  Scenario Outline: SSRI with an NSAID or an anticoagulant and rectal bleeding
    Given a patient aged 40
    And the patient takes an SSRI
    And the patient takes <medicine>
    And the patient has rectal bleeding
    When the plan is drafted
    Then the plan suggests medication.interaction_check with priority urgent
    And the plan suggests referral.urgent_gi with priority urgent

    Examples:
      | medicine         |
      | an NSAID         |
      | an anticoagulant |

  Scenario: A patient with anorexia and IBS is not drafted a low-FODMAP restriction
    Given a patient aged 24
    And the patient has an eating disorder
    And the patient has IBS
    And abdominal pain score is 7
    And celiac serology negative
    And no GI alarm features
    When the plan is drafted
    Then the plan does not suggest diet.low_fodmap_trial
    And the plan suggests referral.eating_disorder

  Scenario: A patient with bipolar depression is not drafted a short-term SSRI
    Given a patient aged 35
    And the patient has bipolar disorder
    And PHQ-9 total 16 with item 9 0
    When the plan is drafted
    Then the plan suggests referral.mental_health
    And no suggestion proposes an antidepressant

  Scenario: A gluten-free diet is recorded and changes the celiac advice
    Given a patient aged 30
    And the patient is on a gluten-free diet
    And the patient has IBS
    And abdominal pain score is 6
    And celiac serology negative
    And no GI alarm features
    When the plan is drafted
    Then the rationale of lab.celiac_serology mentions "gluten challenge"
    And the plan does not suggest diet.low_fodmap_trial

  Scenario: Recurrent depression is not framed as "short-term SSRI"
    Given a patient aged 48
    And the patient has recurrent depression
    And PHQ-9 total 16 with item 9 0
    And the patient does not take an SSRI
    When the plan is drafted
    Then the rationale of medication.review mentions "at least 6 months after remission"
    And the rationale of medication.review does not mention "short-term SSRI"

  Scenario: Pregnancy gets perinatal framing
    Given a patient aged 30
    And the patient is female
    And the patient is pregnant
    And PHQ-9 total 12 with item 9 0
    When the plan is drafted
    Then the title of medication.review mentions "pregnancy or breastfeeding"
    And the title of referral.mental_health mentions "perinatal"

  Scenario: GAD-7 21 with no PHQ-9 prompts the self-harm question
    Given a patient aged 30
    And GAD-7 total is 21
    When the plan is drafted
    Then the plan suggests safety.screen_suicide_risk with priority urgent
