Feature: The gut-brain factor table and the everyday checklist
  Each factor that shapes gut serotonin and mood (fiber, tryptophan-containing foods in balanced
  meals, microbiome diversity, chronic stress, sleep disruption, antibiotics) and each item of
  the everyday checklist maps to a suggestion the clinician can review.

  Background:
    Given a patient aged 44
    And the patient does not report suicidal ideation

  Scenario: Low fiber - more plant foods, added gradually
    Given fiber grams per day is 10
    When the plan is drafted
    Then the plan suggests diet.fiber
    And the rationale of diet.fiber mentions "gradually"

  Scenario: Tryptophan-containing foods within balanced meals for low mood
    Given PHQ-9 total 12 with item 9 0
    When the plan is drafted
    Then the plan suggests diet.mediterranean
    And the rationale of diet.mediterranean mentions "tryptophan"

  Scenario: Microbiome diversity after antibiotics
    Given the patient takes recent antibiotics
    And the patient has irregular bowel movements
    When the plan is drafted
    Then the plan suggests diet.fiber

  Scenario: Chronic stress - a daily breathing practice and a weekly longer session
    Given stress score is 9
    When the plan is drafted
    Then the plan suggests stress.breathing
    And the rationale of stress.breathing mentions "10-minute"

  Scenario: Sleep disruption - 7 to 9 hours on a regular schedule
    Given sleep hours is 5.5
    When the plan is drafted
    Then the plan suggests sleep.hygiene
    And the rationale of sleep.hygiene mentions "7-9 hours"

  Scenario: Activity - about 30 minutes on most days
    Given exercise minutes per week is 60
    When the plan is drafted
    Then the plan suggests exercise.aerobic
    And the rationale of exercise.aerobic mentions "150"

  Scenario: Persistent low mood - talk to a provider
    Given PHQ-9 total 12 with item 9 0
    When the plan is drafted
    Then the plan suggests referral.mental_health

  Scenario: Symptom duration alone is not a reason to refer to gastroenterology
    Given the patient has IBS
    And symptom weeks is 40
    When the plan is drafted
    Then the plan does not suggest referral.gastroenterology

  Scenario Outline: Not settled after 12 weeks of documented first-line care - gastroenterology
    Given the patient has bloating
    And symptom weeks is 30
    And weeks of first-line care is <weeks>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | weeks | outcome                                    |
      | 11    | does not suggest referral.gastroenterology |
      | 12    | suggests referral.gastroenterology         |

  Scenario: Diagnostic doubt brings a gastroenterology review, cited to NICE CG61 not Rome IV
    Given the patient has IBS
    And the patient has diagnostic doubt
    When the plan is drafted
    Then the plan suggests referral.gastroenterology
    And the rationale of referral.gastroenterology mentions "doubts the IBS diagnosis"
