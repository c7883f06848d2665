Feature: When to seek help
  Some findings are not for lifestyle advice: thoughts of suicide or self-harm and severe mood
  change need prompt professional help; severe abdominal pain or blood in the stool need a
  clinician; a serious or chronic illness means the provider reviews probiotics and supplements
  first.

  Scenario: Thoughts of self-harm - same-day assessment before anything else
    Given a patient aged 27
    And the patient reports suicidal ideation
    And sleep hours is 5.0
    When the plan is drafted
    Then the first suggestion is safety.crisis
    And the rationale of safety.crisis mentions "crisis resources"
    And the draft mentions "988 Suicide & Crisis Lifeline"
    And sleep.hygiene is deferred because "same-day safety assessment"

  Scenario: Severe low mood - a prompt mental-health review
    Given a patient aged 27
    And PHQ-9 total 22 with item 9 0
    When the plan is drafted
    Then the plan suggests referral.mental_health with priority urgent
    And no immediate action is required

  Scenario: Blood in the stool - see a clinician
    Given a patient aged 27
    And the patient has blood in the stool
    When the plan is drafted
    Then the plan suggests referral.urgent_gi with priority urgent

  Scenario: Severe abdominal pain - see a clinician
    Given a patient aged 27
    And abdominal pain score is 9
    When the plan is drafted
    Then the plan suggests referral.urgent_gi with priority urgent

  Scenario: A chronic illness - the provider decides on probiotics
    Given a patient aged 27
    And the patient has inflammatory bowel disease
    And the patient takes a probiotic
    When the plan is drafted
    Then the plan suggests probiotic.consult_first
