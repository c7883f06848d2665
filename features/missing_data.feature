Feature: Missing data - "not recorded" is never read as "no"
  A question that was never asked is not a negative answer. The draft never treats a missing
  value as false or zero: it asks for what is missing when that matters for safety, and holds
  back trials whose safety depends on it.

  Scenario: Only an age - nothing is drafted from data that is not there
    Given a patient aged 30
    When the plan is drafted
    Then the plan has no suggestions
    And no immediate action is required

  Scenario: Moderate depression without item 9 - ask about self-harm thoughts
    Given a patient aged 40
    And PHQ-9 total 14
    When the plan is drafted
    Then the plan suggests safety.screen_suicide_risk with priority urgent
    And the plan does not suggest safety.crisis

  Scenario: Item 9 removed from a full questionnaire
    Given a patient aged 40
    And PHQ-9 items 2, 2, 2, 2, 1, 1, 1, 1, 0
    And PHQ-9 item 9 is not recorded
    When the plan is drafted
    Then the plan suggests safety.screen_suicide_risk

  Scenario Outline: Moderate HAM-D with no record of self-harm thoughts
    Given a patient aged 40
    And HAM-D 17 total is <total>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | total | outcome                                                  |
      | 16    | does not suggest safety.screen_suicide_risk              |
      | 17    | suggests safety.screen_suicide_risk with priority urgent |

  Scenario Outline: A lifestyle value that was not recorded drafts nothing
    Given a patient aged 41
    And <measure> is not recorded
    When the plan is drafted
    Then the plan does not suggest <code>

    Examples:
      | measure                   | code             |
      | sleep hours               | sleep.hygiene    |
      | exercise minutes per week | exercise.aerobic |
      | fiber grams per day       | diet.fiber       |
      | stress score              | stress.breathing |

  Scenario: Celiac serology never done - test before any restriction
    Given a patient aged 29
    And the patient has IBS
    And abdominal pain score is 7
    And no GI alarm features
    When the plan is drafted
    Then the plan suggests lab.celiac_serology
    And the plan does not suggest diet.low_fodmap_trial

  Scenario: A positive celiac screen goes to a specialist for confirmation
    Given a patient aged 29
    And the patient has IBS
    And celiac serology positive
    When the plan is drafted
    Then the plan suggests referral.gastroenterology
    And the rationale of referral.gastroenterology mentions "keep eating gluten"
    And the plan does not suggest diet.low_fodmap_trial
    And the plan does not suggest lab.celiac_serology

  Scenario: Alarm features not recorded for a patient with symptoms
    Given a patient aged 33
    And the patient has IBS
    And the patient has bloating
    And celiac serology negative
    And abdominal pain score is 6
    And no probiotic cautions
    When the plan is drafted
    Then the plan suggests safety.record_alarm_features
    And the plan does not suggest diet.low_fodmap_trial
    And the plan does not suggest probiotic.trial
