Feature: Plans a clinician would sign - one diet plan, one GI referral, quiet by default
  A draft is read only if it is coherent and short. Diet advice is reconciled in the rulebook
  (overrides and rule order, visible in the YAML and in `gbrules rules lint`): in IBS, fiber
  advice is IBS-specific (soluble fiber, no beans or pulses) and is folded into the dietitian's
  plan when a low-FODMAP trial is drafted; more fiber and restrictive diets wait while an alarm
  feature or acute sign is evaluated; the Mediterranean pattern comes with its low-FODMAP
  adaptation. One GI referral, the urgent one, and the routine one only on a real trigger.
  Lifestyle items need a recorded out-of-range value; mood items follow current severity.

  Background:
    Given a patient aged 35
    And the patient is female
    And no GI alarm features
    And no acute GI signs
    And no probiotic cautions

  Scenario: IBS with 16 g of fiber and a low-FODMAP trial - one diet plan, no beans
    Given the patient has IBS
    And celiac serology negative
    And abdominal pain score is 6
    And fiber grams per day is 16
    And PHQ-9 total 12 with item 9 0
    When the plan is drafted
    Then the plan suggests diet.low_fodmap_trial
    And diet.fiber is suppressed because "dietitian's low-FODMAP plan"
    And the rationale of diet.low_fodmap_trial mentions "soluble fiber such as oats"
    And the rationale of diet.low_fodmap_trial mentions "no beans or pulses"
    And the title of diet.mediterranean mentions "adapted for IBS"
    And the rationale of diet.mediterranean mentions "low-FODMAP"

  Scenario: IBS with low fiber and no low-FODMAP trial - IBS-specific soluble fiber advice
    Given the patient has IBS
    And celiac serology negative
    And abdominal pain score is 4
    And fiber grams per day is 16
    When the plan is drafted
    Then the plan does not suggest diet.low_fodmap_trial
    And the plan suggests diet.fiber
    And the title of diet.fiber mentions "soluble fiber (oats, ispaghula)"
    And the title of diet.fiber does not mention "beans"
    And the evidence of diet.fiber cites "NICE CG61"

  Scenario: IBS referred to a dietitian - the fiber review is part of the dietitian's plan
    Given the patient has IBS
    And abdominal pain score is 5
    And fiber grams per day is 16
    When the plan is drafted
    Then the plan suggests referral.dietitian
    And diet.fiber is suppressed because "dietitian reviews fiber"
    And the rationale of referral.dietitian mentions "soluble fiber such as oats or ispaghula"
    And the rationale of referral.dietitian mentions "no beans or pulses"

  Scenario: Without IBS, low fiber gets the general advice, cited to a fiber reference value
    Given the patient has bloating
    And fiber grams per day is 16
    When the plan is drafted
    Then the plan suggests diet.fiber
    And the evidence of diet.fiber cites "EFSA 2010"

  Scenario Outline: More fiber is held while an alarm feature is evaluated
    Given the patient has <alarm>
    And fiber grams per day is 12
    When the plan is drafted
    Then the plan suggests referral.urgent_gi
    And diet.fiber is suppressed because "more fiber"

    Examples:
      | alarm                     |
      | persistent vomiting       |
      | unintentional weight loss |
      | rectal bleeding           |

  Scenario: More fiber is held while fever is evaluated
    Given the patient has bloating
    And the patient has fever
    And fiber grams per day is 12
    When the plan is drafted
    Then diet.fiber is suppressed because "more fiber"

  Scenario: With weight loss the dietitian does not offer a low-FODMAP trial
    Given the patient has IBS
    And the patient has unintentional weight loss
    And abdominal pain score is 6
    And celiac serology negative
    When the plan is drafted
    Then the plan suggests referral.dietitian
    And the title of referral.dietitian mentions "after the urgent GI evaluation"
    And the rationale of referral.dietitian does not mention "structured low-FODMAP trial"
    And the plan does not suggest diet.low_fodmap_trial

  Scenario: Without alarm features the dietitian may guide a low-FODMAP trial later
    Given the patient has IBS
    And abdominal pain score is 6
    And celiac serology negative
    When the plan is drafted
    Then the rationale of referral.dietitian mentions "structured low-FODMAP trial only once"

  Scenario: One GI referral - the urgent one supersedes the routine one
    Given the patient has IBS
    And the patient has rectal bleeding
    And weeks of first-line care is 20
    When the plan is drafted
    Then the plan suggests referral.urgent_gi with priority urgent
    And the plan does not suggest referral.gastroenterology
    And referral.gastroenterology is suppressed because "One GI referral"

  Scenario: The routine GI referral is cited to NICE CG61 and the BSG guideline, not Rome IV
    Given the patient has IBS
    And weeks of first-line care is 12
    When the plan is drafted
    Then the evidence of referral.gastroenterology cites "NICE CG61"
    And the evidence of referral.gastroenterology cites "Vasant 2021"
    And the evidence of referral.gastroenterology does not cite "Rome IV"

  Scenario Outline: Celiac serology for IBS or 6 months of GI symptoms, not a short stressful spell
    Given the patient has bloating
    And symptom weeks is <weeks>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | weeks | outcome                               |
      | 6     | does not suggest lab.celiac_serology  |
      | 25    | does not suggest lab.celiac_serology  |
      | 26    | suggests lab.celiac_serology          |

  Scenario: Nothing out of range recorded - no lifestyle items
    Given the patient has bloating
    When the plan is drafted
    Then the plan does not suggest diet.fiber
    And the plan does not suggest exercise.aerobic
    And the plan does not suggest sleep.hygiene
    And the plan does not suggest diet.reduce_caffeine
    And the plan does not suggest stress.breathing

  Scenario Outline: The pregnancy caution is asked only where it applies
    Given a patient aged <age>
    And the patient is <sex>
    And the patient takes a probiotic
    And pregnant is not recorded
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | age | sex    | outcome                                  |
      | 70  | female | does not suggest probiotic.consult_first |
      | 55  | female | does not suggest probiotic.consult_first |
      | 54  | female | suggests probiotic.consult_first         |
      | 35  | male   | does not suggest probiotic.consult_first |
      | 35  | female | suggests probiotic.consult_first         |

  Scenario: A remitted patient with recurrent depression gets relapse prevention, not a referral
    Given the patient has recurrent depression
    And PHQ-9 total 2 with item 9 0
    When the plan is drafted
    Then the plan does not suggest referral.mental_health
    And the plan does not suggest diet.mediterranean
    And the plan suggests medication.review
    And the title of medication.review mentions "relapse-prevention plan"

  Scenario Outline: Recurrent depression with current symptoms (PHQ-9 4 versus 5) is referred
    Given the patient has recurrent depression
    And PHQ-9 total <total> with item 9 0
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | total | outcome                                 |
      | 4     | does not suggest referral.mental_health |
      | 5     | suggests referral.mental_health         |

  Scenario: Lifestyle thresholds cite guidelines, not the seed scenarios
    Given sleep hours is 6.0
    And exercise minutes per week is 60
    And caffeine mg per day is 450
    And the patient has a diet high in ultra-processed food
    When the plan is drafted
    Then the evidence of sleep.hygiene cites "Watson 2015"
    And the evidence of exercise.aerobic cites "WHO 2020"
    And the evidence of diet.reduce_caffeine cites "EFSA 2015"
    And the evidence of diet.fiber cites "EFSA 2010"

  Scenario: An SSRI with gut symptoms cites clinical evidence, not the FDA CDS guidance
    Given the patient takes an SSRI
    And the patient has bloating
    When the plan is drafted
    Then the evidence of medication.review does not cite "FDA"
