Feature: Onset at 50 or over - new symptoms in older adults are not IBS until proven
  GI symptoms that began at age 50 or over (from the recorded onset age, or, without it, from
  age minus symptom weeks / 52, since symptom weeks count from the first onset) call for an
  urgent GI evaluation and hold the diet and probiotic trials: IBS rarely begins at this age.
  NICE NG12 refers at 60 or over with a change in bowel habit; ACG treats onset after about 50
  as an alarm feature; the rulebook uses 50, the more cautious. A woman of 50 or over with
  bloating, or with new IBS-type symptoms, gets a CA125 (NICE NG12 ovarian 1.5).

  Background:
    Given the patient is male
    And the patient has IBS
    And the patient has bloating
    And the patient has irregular bowel movements
    And abdominal pain score is 6
    And celiac serology negative
    And no GI alarm features
    And no acute GI signs
    And no probiotic cautions

  Scenario Outline: Onset at 50 from age and symptom weeks
    Given a patient aged <age>
    And symptom weeks is <weeks>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | age | weeks | outcome                                          |
      | 49  | 0     | does not suggest referral.urgent_gi              |
      | 50  | 0     | suggests referral.urgent_gi with priority urgent |
      | 50  | 1     | does not suggest referral.urgent_gi              |
      | 51  | 52    | suggests referral.urgent_gi with priority urgent |
      | 51  | 53    | does not suggest referral.urgent_gi              |
      | 72  | 8     | suggests referral.urgent_gi with priority urgent |

  Scenario Outline: A recorded onset age is used before the estimate from weeks
    Given a patient aged 72
    And symptom weeks is 8
    And age at symptom onset is <onset>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | onset | outcome                                          |
      | 49    | does not suggest referral.urgent_gi              |
      | 50    | suggests referral.urgent_gi with priority urgent |

  Scenario: Onset at 50 or over holds the trials until organic disease is excluded
    Given a patient aged 72
    And symptom weeks is 8
    And the patient wants a probiotic trial
    When the plan is drafted
    Then the plan does not suggest diet.low_fodmap_trial
    And the plan does not suggest probiotic.trial
    And diet.low_fodmap_trial is suppressed because "began at 50 or over"
    And probiotic.trial is suppressed because "began at 50 or over"
    And the rationale of referral.urgent_gi mentions "age when the GI symptoms began 71.8"

  Scenario: Long-standing IBS that began before 50 is not a new-onset alarm
    Given a patient aged 64
    And symptom weeks is 1040
    When the plan is drafted
    Then the plan does not suggest referral.urgent_gi
    And the plan suggests diet.low_fodmap_trial

  Scenario Outline: CA125 for bloating in a woman of 50 or over
    Given a patient aged <age>
    And the patient is <sex>
    And symptom weeks is 1040
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | age | sex    | outcome                                  |
      | 49  | female | does not suggest lab.ca125               |
      | 50  | female | suggests lab.ca125 with priority urgent  |
      | 64  | female | suggests lab.ca125 with priority urgent  |
      | 64  | male   | does not suggest lab.ca125               |

  Scenario Outline: CA125 for new IBS-type symptoms without bloating in a woman of 50 or over
    Given a patient aged 55
    And the patient is female
    And the patient does not have bloating
    And symptom weeks is <weeks>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | weeks | outcome                                 |
      | 51    | suggests lab.ca125 with priority urgent |
      | 520   | does not suggest lab.ca125              |
