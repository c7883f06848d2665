Feature: GI alarm features come before any diet or probiotic trial
  Bleeding, weight loss, anaemia, vomiting, difficulty swallowing, night-time symptoms, a new
  change in bowel habit from age 50, or a family history of colorectal cancer with symptoms:
  organic disease has to be ruled out first. The draft raises an urgent GI evaluation and holds
  back the low-FODMAP and probiotic trials, so they cannot mask or delay a diagnosis. A family
  history of IBD or celiac disease calls for calprotectin and celiac serology instead.

  Background:
    Given a patient aged 40
    And the patient is female
    And the patient has IBS
    And abdominal pain score is 6
    And celiac serology negative
    And no probiotic cautions
    And no GI alarm features

  Scenario: Without alarm features the IBS trials may be drafted
    Given the patient wants a probiotic trial
    When the plan is drafted
    Then the plan does not suggest referral.urgent_gi
    And the plan suggests diet.low_fodmap_trial
    And the plan suggests probiotic.trial

  Scenario Outline: Each alarm feature calls for urgent evaluation and holds the trials
    Given the patient has <alarm feature>
    When the plan is drafted
    Then the plan suggests referral.urgent_gi with priority urgent
    And the rationale of referral.urgent_gi mentions "<shown as>"
    And the plan does not suggest diet.low_fodmap_trial
    And the plan does not suggest probiotic.trial

    Examples:
      | alarm feature                             | shown as                        |
      | rectal bleeding                           | rectal bleeding                 |
      | blood in the stool                        | rectal bleeding                 |
      | unintentional weight loss                 | unintentional weight loss       |
      | iron-deficiency anaemia                   | iron-deficiency anaemia         |
      | persistent vomiting                       | persistent vomiting             |
      | dysphagia                                 | dysphagia                       |
      | nocturnal symptoms                        | nocturnal symptoms              |
      | a family history of colorectal cancer     | family history of colorectal    |

  Scenario Outline: A new change in bowel habit is an alarm feature from age 50
    Given a patient aged <age>
    And the patient has a new change in bowel habit
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | age | outcome                                          |
      | 49  | does not suggest referral.urgent_gi              |
      | 50  | suggests referral.urgent_gi with priority urgent |
      | 51  | suggests referral.urgent_gi with priority urgent |

  Scenario: A family history of IBD or celiac disease calls for calprotectin, not urgency
    Given the patient has a family history of IBD or celiac disease
    And the patient has bloating
    When the plan is drafted
    Then the plan suggests lab.fecal_calprotectin
    And the rationale of lab.fecal_calprotectin mentions "family history"
    And the plan does not suggest referral.urgent_gi
    And the plan suggests diet.low_fodmap_trial

  Scenario: An alarm feature during a crisis keeps the urgent GI evaluation in the plan
    Given the patient has rectal bleeding
    And PHQ-9 total 12 with item 9 1
    When the plan is drafted
    Then the first suggestion is safety.crisis
    And the plan suggests referral.urgent_gi with priority urgent
