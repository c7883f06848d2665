Feature: Sleep, stress, activity and diet
  The everyday factors behind gut and mood symptoms: sleep below 7 hours or of poor quality,
  high stress, less than 150 minutes a week of moderate activity, low fiber or a lot of
  ultra-processed food, high caffeine, and recent antibiotics. Each is a routine suggestion;
  none is drafted from a value that was never recorded.

  Background:
    Given a patient aged 41

  Scenario Outline: Sleep below 7 hours a night
    Given sleep hours is <hours>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | hours | outcome                        |
      | 6.9   | suggests sleep.hygiene         |
      | 7.0   | does not suggest sleep.hygiene |
      | 8.5   | does not suggest sleep.hygiene |

  Scenario: Poor sleep quality even with enough hours
    Given sleep hours is 8.0
    And the patient reports poor sleep quality
    When the plan is drafted
    Then the plan suggests sleep.hygiene

  Scenario Outline: Activity below 150 minutes a week
    Given exercise minutes per week is <minutes>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | minutes | outcome                           |
      | 0       | suggests exercise.aerobic         |
      | 149     | suggests exercise.aerobic         |
      | 150     | does not suggest exercise.aerobic |

  Scenario Outline: Stress score of 7 or more out of 10
    Given stress score is <score>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | score | outcome                           |
      | 6     | does not suggest stress.breathing |
      | 7     | suggests stress.breathing         |

  Scenario Outline: Fiber below 25 g a day
    Given fiber grams per day is <grams>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | grams | outcome                     |
      | 24.9  | suggests diet.fiber         |
      | 25.0  | does not suggest diet.fiber |

  Scenario: A diet high in ultra-processed food
    Given the patient has a diet high in ultra-processed food
    When the plan is drafted
    Then the plan suggests diet.fiber

  Scenario Outline: Caffeine above 400 mg a day, or above 200 mg with poor sleep
    Given caffeine mg per day is <mg>
    And the patient <sleep> poor sleep quality
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | mg    | sleep           | outcome                                 |
      | 400.0 | does not report | does not suggest diet.reduce_caffeine   |
      | 401.0 | does not report | suggests diet.reduce_caffeine           |
      | 200.0 | reports         | does not suggest diet.reduce_caffeine   |
      | 201.0 | reports         | suggests diet.reduce_caffeine           |

  Scenario: Recent antibiotics with gut symptoms - support microbiome diversity
    Given the patient takes recent antibiotics
    And the patient has bloating
    When the plan is drafted
    Then the plan suggests diet.fiber
    And the rationale of diet.fiber mentions "Antibiotics lower microbiome diversity"
