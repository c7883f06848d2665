Feature: Suicide risk comes first
  Any positive answer to PHQ-9 item 9, or reported suicidal ideation, calls for a same-day risk
  assessment. It is the first item of the plan, and lifestyle items wait until it is done.

  Scenario: Item 9 positive in the bundled crisis example
    Given the bundled example "crisis"
    When the plan is drafted
    Then the first suggestion is safety.crisis
    And the plan suggests safety.crisis with priority critical
    And immediate action is required
    And diet.fiber is deferred because "same-day safety assessment"
    And exercise.aerobic is deferred because "same-day safety assessment"
    And the plan does not suggest diet.*
    And the plan does not suggest probiotic.*
    And the plan does not suggest exercise.*

  Scenario Outline: Any item 9 score of 1 or more triggers the crisis pathway
    Given a patient aged 30
    And PHQ-9 total <total> with item 9 <item9>
    When the plan is drafted
    Then the first suggestion is safety.crisis

    Examples:
      | total | item9 |
      | 1     | 1     |
      | 9     | 1     |
      | 27    | 3     |

  Scenario: Item 9 of zero does not trigger the crisis pathway
    Given a patient aged 30
    And PHQ-9 total 9 with item 9 0
    When the plan is drafted
    Then the plan does not suggest safety.crisis
    And no immediate action is required

  Scenario: Reported suicidal ideation without a PHQ-9
    Given a patient aged 52
    And the patient reports suicidal ideation
    When the plan is drafted
    Then the first suggestion is safety.crisis

  Scenario Outline: Moderate depression with item 9 not recorded asks for the question
    Given a patient aged 40
    And PHQ-9 total <total>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | total | outcome                                             |
      | 9     | does not suggest safety.screen_suicide_risk         |
      | 10    | suggests safety.screen_suicide_risk with priority urgent |

  Scenario Outline: Item 9 from the full questionnaire - 0 versus 1
    Given a patient aged 30
    And PHQ-9 items 1, 1, 1, 1, 1, 1, 1, 1, <item9>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | item9 | outcome                                         |
      | 0     | does not suggest safety.crisis                  |
      | 1     | suggests safety.crisis with priority critical   |

  Scenario: During a crisis every lifestyle and probiotic item waits, the safety net stays
    Given the bundled example "crisis"
    When the plan is drafted
    Then diet.mediterranean is deferred because "same-day safety assessment"
    And sleep.hygiene is deferred because "same-day safety assessment"
    And stress.breathing is deferred because "same-day safety assessment"
    And the plan does not suggest sleep.*
    And the plan does not suggest stress.*
    And the plan suggests referral.mental_health

  Scenario: A recorded "no" to suicidal ideation does not replace the PHQ-9 item
    Given a patient aged 35
    And PHQ-9 total 15
    And the patient does not report suicidal ideation
    When the plan is drafted
    Then the plan suggests safety.screen_suicide_risk with priority urgent
