Feature: IBS severity - severe chronic IBS gets the dietitian-led low-FODMAP trial
  IBS-SSS grades severity (< 75 remission, 75-174 mild, 175-299 moderate, >= 300 severe;
  Francis 1997). In diagnosed, chronic IBS with every alarm feature recorded absent, pain
  intensity alone is not an alarm: moderate or severe IBS (pain >= 5 or IBS-SSS >= 175) gets a
  time-limited low-FODMAP trial with a dietitian once celiac serology is negative (ACG 2021,
  NICE CG61). Sudden severe pain, or severe pain without an IBS diagnosis, is assessed promptly.

  Background:
    Given a patient aged 40
    And the patient has IBS
    And symptom weeks is 30
    And celiac serology negative
    And no GI alarm features
    And no acute GI signs
    And no probiotic cautions

  Scenario Outline: Pain intensity in chronic IBS
    Given abdominal pain score is <pain>
    When the plan is drafted
    Then the plan <fodmap>
    And the plan does not suggest referral.urgent_gi

    Examples:
      | pain | fodmap                                 |
      | 4    | does not suggest diet.low_fodmap_trial |
      | 5    | suggests diet.low_fodmap_trial         |
      | 7    | suggests diet.low_fodmap_trial         |
      | 8    | suggests diet.low_fodmap_trial         |
      | 10   | suggests diet.low_fodmap_trial         |

  Scenario Outline: IBS-SSS moderate or severe
    Given IBS-SSS is <score>
    When the plan is drafted
    Then the plan <fodmap>

    Examples:
      | score | fodmap                                 |
      | 174   | does not suggest diet.low_fodmap_trial |
      | 175   | suggests diet.low_fodmap_trial         |
      | 299   | suggests diet.low_fodmap_trial         |
      | 300   | suggests diet.low_fodmap_trial         |

  Scenario: The trial names the severity it was drafted for
    Given IBS-SSS is 320
    When the plan is drafted
    Then the rationale of diet.low_fodmap_trial mentions "IBS-SSS total 320 (severe; >= 175)"
    And the rationale of diet.low_fodmap_trial mentions "pain intensity alone is not an alarm"
    And the plan suggests referral.dietitian

  Scenario: Severe IBS with celiac serology not yet done waits for the test
    Given IBS-SSS is 350
    And celiac serology not done
    When the plan is drafted
    Then the plan does not suggest diet.low_fodmap_trial
    And the plan suggests lab.celiac_serology

  Scenario Outline: Severe pain with no IBS diagnosis on record is assessed promptly
    Given the patient <ibs> IBS
    And abdominal pain score is <pain>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | ibs           | pain | outcome                                          |
      | does not have | 7    | does not suggest referral.urgent_gi              |
      | does not have | 8    | suggests referral.urgent_gi with priority urgent |
      | has           | 8    | does not suggest referral.urgent_gi              |

  Scenario: Severe pain, IBS not recorded, is assessed promptly
    Given IBS is not recorded
    And abdominal pain score is 9
    When the plan is drafted
    Then the plan suggests referral.urgent_gi with priority urgent
