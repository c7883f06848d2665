Feature: Example site pack: caffeine in IBS (docs/RULES.md, worked example)
  A site adds one rule to the default rulebook: with IBS, more than about three cups of
  coffee a day (300 mg of caffeine) brings the caffeine suggestion. Both sides of 300 mg,
  and without IBS.

  Background:
    Given the site rule pack "examples/site-pack"

  Scenario: IBS and more than 300 mg of caffeine a day
    Given a patient aged 40
    And the patient has IBS
    And caffeine mg per day is 320
    When the plan is drafted
    Then the plan suggests diet.reduce_caffeine
    And the rationale of diet.reduce_caffeine mentions "three cups"

  Scenario: IBS and 300 mg a day is within the site's limit
    Given a patient aged 40
    And the patient has IBS
    And caffeine mg per day is 300
    When the plan is drafted
    Then the plan does not suggest diet.reduce_caffeine

  Scenario: Without IBS the site rule does not apply
    Given a patient aged 40
    And the patient does not have IBS
    And caffeine mg per day is 320
    When the plan is drafted
    Then the plan does not suggest diet.reduce_caffeine
