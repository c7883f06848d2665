Feature: Ages - the population the rulebook is written for, and adolescents
  The rulebook declares its population (rules/rulebook.yaml, population.min_age 12). Below it
  the draft says the patient is out of scope and holds diet, probiotic, lifestyle and
  medication items; safety items, urgent GI findings, labs and referrals still show. From 12 to
  17 the adolescent pathways apply: child and adolescent services (CAMHS, paediatrics) instead
  of adult referrals, psychological therapy first and no antidepressant suggestion unless one is
  already prescribed (NICE NG134), caffeine about 100 mg/day or 2.5 mg/kg/day, an average of
  60 minutes of activity a day (WHO 2020), 8-10 hours of sleep at 13-17 and 9-12 at 12 (AASM).

  Scenario Outline: Below the minimum age the draft is out of scope
    Given a patient aged <age>
    And the patient reports poor sleep quality
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | age | outcome                                             |
      | 0   | suggests safety.out_of_scope with priority urgent   |
      | 11  | suggests safety.out_of_scope with priority urgent   |
      | 12  | does not suggest safety.out_of_scope                |
      | 40  | does not suggest safety.out_of_scope                |

  Scenario: Out of scope holds the lifestyle items and says why
    Given a patient aged 9
    And the patient reports poor sleep quality
    And stress score is 8
    When the plan is drafted
    Then sleep.hygiene is suppressed because "Outside the population"
    And stress.breathing is suppressed because "Outside the population"
    And the plan does not suggest sleep.*
    And the plan does not suggest stress.*

  Scenario: Out of scope still raises the safety items
    Given a patient aged 10
    And PHQ-9 total 14 with item 9 1
    And the patient has rectal bleeding
    When the plan is drafted
    Then the first suggestion is safety.crisis
    And the plan suggests referral.urgent_gi with priority urgent
    And the plan suggests safety.out_of_scope
    And the plan suggests referral.paediatric

  Scenario: Out of scope, a medicine combination is still checked
    Given a patient aged 10
    And the patient takes an SSRI
    And the patient takes an MAOI
    When the plan is drafted
    Then the plan suggests medication.interaction_check with priority critical

  Scenario: Out of scope, a probiotic taken with a central line is still reviewed urgently
    Given a patient aged 6
    And the patient has a central venous catheter
    And the patient takes a probiotic
    When the plan is drafted
    Then the plan suggests medication.review with priority urgent
    And the plan does not suggest probiotic.*

  Scenario Outline: Moderate mood or anxiety symptoms under 18 go to CAMHS, not adult pathways
    Given a patient aged <age>
    And PHQ-9 total <phq9> with item 9 0
    When the plan is drafted
    Then the plan <outcome>
    And the plan does not suggest referral.mental_health
    And the plan does not suggest medication.review
    And no suggestion proposes an antidepressant

    Examples:
      | age | phq9 | outcome                                              |
      | 12  | 9    | does not suggest referral.paediatric                 |
      | 12  | 10   | suggests referral.paediatric with priority routine   |
      | 17  | 10   | suggests referral.paediatric with priority routine   |
      | 17  | 19   | suggests referral.paediatric with priority routine   |
      | 17  | 20   | suggests referral.paediatric with priority urgent    |

  Scenario Outline: From 18 the adult mental-health pathway applies
    Given a patient aged 18
    And PHQ-9 total <phq9> with item 9 0
    When the plan is drafted
    Then the plan suggests referral.mental_health with priority <priority>
    And the plan does not suggest referral.paediatric

    Examples:
      | phq9 | priority |
      | 10   | routine  |
      | 20   | urgent   |

  Scenario Outline: Anxiety at GAD-7 10 under 18 goes to CAMHS
    Given a patient aged 15
    And GAD-7 total is <gad7>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | gad7 | outcome                              |
      | 9    | does not suggest referral.paediatric |
      | 10   | suggests referral.paediatric         |

  Scenario: An adolescent already on an SSRI with GI symptoms - review with the prescriber
    Given a patient aged 15
    And the patient takes an SSRI
    And the patient has bloating
    When the plan is drafted
    Then the plan suggests medication.review
    And the rationale of medication.review mentions "prescriber"

  Scenario: An adolescent with IBS is assessed by paediatric services, no adult diet trials
    Given a patient aged 15
    And the patient has IBS
    And abdominal pain score is 7
    And celiac serology negative
    And no GI alarm features
    And no probiotic cautions
    When the plan is drafted
    Then the plan suggests referral.paediatric
    And the plan does not suggest diet.low_fodmap_trial
    And the plan does not suggest probiotic.trial
    And the plan does not suggest referral.gastroenterology
    And the plan does not suggest referral.dietitian

  Scenario: A positive celiac screen under 18 goes to paediatric gastroenterology
    Given a patient aged 14
    And celiac serology positive
    When the plan is drafted
    Then the plan suggests referral.paediatric
    And the plan does not suggest referral.gastroenterology

  Scenario Outline: Adolescent caffeine above about 100 mg a day
    Given a patient aged <age>
    And caffeine mg per day is <mg>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | age | mg    | outcome                               |
      | 15  | 100.0 | does not suggest diet.reduce_caffeine |
      | 15  | 101.0 | suggests diet.reduce_caffeine         |
      | 17  | 150.0 | suggests diet.reduce_caffeine         |
      | 18  | 150.0 | does not suggest diet.reduce_caffeine |

  Scenario Outline: A young person's caffeine above 2.5 mg per kg of body weight
    Given a patient aged 12
    And weight in kg is <kg>
    And caffeine mg per day is 90.0
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | kg   | outcome                               |
      | 36.0 | does not suggest diet.reduce_caffeine |
      | 35.0 | suggests diet.reduce_caffeine         |
      | 40.0 | does not suggest diet.reduce_caffeine |

  Scenario Outline: Activity under 18 - an average of 60 minutes a day
    Given a patient aged <age>
    And exercise minutes per week is <minutes>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | age | minutes | outcome                           |
      | 15  | 419     | suggests exercise.aerobic         |
      | 15  | 420     | does not suggest exercise.aerobic |
      | 18  | 200     | does not suggest exercise.aerobic |
      | 18  | 149     | suggests exercise.aerobic         |

  Scenario: The adolescent activity item names the young person's target
    Given a patient aged 15
    And exercise minutes per week is 300
    When the plan is drafted
    Then the title of exercise.aerobic mentions "60 minutes"

  Scenario Outline: Sleep needs by age - 9 h at 12, 8 h at 13-17, 7 h from 18
    Given a patient aged <age>
    And sleep hours is <hours>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | age | hours | outcome                        |
      | 12  | 8.9   | suggests sleep.hygiene         |
      | 12  | 9.0   | does not suggest sleep.hygiene |
      | 13  | 7.9   | suggests sleep.hygiene         |
      | 13  | 8.0   | does not suggest sleep.hygiene |
      | 17  | 7.5   | suggests sleep.hygiene         |
      | 18  | 7.5   | does not suggest sleep.hygiene |

  Scenario: Poor sleep quality in an adolescent
    Given a patient aged 16
    And sleep hours is 9.0
    And the patient reports poor sleep quality
    When the plan is drafted
    Then the plan suggests sleep.hygiene
    And the title of sleep.hygiene mentions "8-10 hours"
