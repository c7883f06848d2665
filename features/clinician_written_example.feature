Feature: A scenario written by a clinician
  Written only with the steps listed in features/README.md, without looking at any code: a new
  scenario needs nothing else.

  Scenario: Anxious student who sleeps badly and drinks a lot of coffee
    Given a patient aged 22
    And the patient is other
    And GAD-7 total is 12
    And sleep hours is 5.5
    And caffeine mg per day is 300.0
    And the patient does not report suicidal ideation
    When the plan is drafted
    Then the plan suggests stress.breathing
    And the plan suggests sleep.hygiene
    And the plan suggests diet.reduce_caffeine
    And the plan suggests referral.mental_health with priority routine
    And the rationale of referral.mental_health mentions "GAD-7 total 12"
    And the plan does not suggest safety.crisis
    And no immediate action is required
