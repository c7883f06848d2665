Feature: Case 1 - digestive distress during a stressful period, with anxiety and low mood
  A 35-year-old has bloating and irregular bowel movements during a busy period, sleeps badly,
  drinks a lot of coffee, eats little fiber and feels anxious. The draft should address the
  lifestyle factors first and raise a provider discussion about therapy or medication.

  Background:
    Given the bundled example "case1"

  Scenario: The lifestyle plan covers diet, breathing, sleep and activity
    When the plan is drafted
    Then the plan suggests diet.fiber
    And the plan suggests diet.reduce_caffeine
    And the plan suggests stress.breathing
    And the plan suggests sleep.hygiene
    And the plan suggests exercise.aerobic
    And no immediate action is required

  Scenario: Anxiety at GAD-7 11 raises therapy and a medication discussion
    When the plan is drafted
    Then the plan suggests referral.mental_health with priority routine
    And the plan suggests medication.review
    And the rationale of referral.mental_health mentions "GAD-7 total 11"

  Scenario: Without alarm features no urgent GI referral is drafted
    When the plan is drafted
    Then the plan does not suggest referral.urgent_gi
    And the plan does not suggest safety.crisis

  Scenario: Case 1 with mood significantly impaired brings the provider discussion forward
    Given PHQ-9 total 16 with item 9 0
    When the plan is drafted
    Then the plan suggests referral.mental_health
    And the plan suggests medication.review
    And the rationale of medication.review mentions "prescriber"

  Scenario: Case 1 on an SSRI - the digestive symptoms are reviewed with the prescriber
    Given the patient takes an SSRI
    When the plan is drafted
    Then the plan suggests medication.review
    And the rationale of medication.review mentions "Do not stop"
