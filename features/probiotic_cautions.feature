Feature: Probiotic cautions - the provider reviews first
  A probiotic trial is drafted only for a patient with none of the recognised cautions
  (immunocompromise, a central venous catheter, critical illness, pregnancy) and no serious
  chronic GI illness. Otherwise the draft asks for the provider's review first. A caution that
  was never asked about counts as possibly present.

  Background:
    Given a patient aged 35
    And the patient is female
    And the patient has IBS
    And celiac serology negative
    And no GI alarm features
    And no probiotic cautions

  Scenario: No cautions recorded present - a time-limited trial as an adjunct
    When the plan is drafted
    Then the plan suggests probiotic.trial
    And the rationale of probiotic.trial mentions "at least 4 weeks"
    And the plan suggests education.adjunct_not_cure
    And the plan does not suggest probiotic.consult_first

  Scenario Outline: Each caution replaces the trial with a provider review
    Given the patient <is> <caution>
    When the plan is drafted
    Then the plan suggests probiotic.consult_first
    And the plan does not suggest probiotic.trial

    Examples:
      | is  | caution                   |
      | is  | pregnant                  |
      | is  | immunocompromised         |
      | has | a central venous catheter |
      | is  | critically ill            |

  Scenario Outline: A chronic GI illness means the treating team decides
    Given the patient has <illness>
    When the plan is drafted
    Then the plan suggests probiotic.consult_first
    And probiotic.trial is suppressed because "treating team"

    Examples:
      | illness                    |
      | inflammatory bowel disease |
      | celiac disease             |

  Scenario: A patient already taking a probiotic while immunocompromised
    Given the patient is immunocompromised
    And the patient takes a probiotic
    When the plan is drafted
    Then the plan suggests probiotic.consult_first
    And the plan suggests education.adjunct_not_cure

  Scenario: Cautions that were never asked about are not taken as absent
    Given pregnant is not recorded
    When the plan is drafted
    Then the plan suggests probiotic.consult_first
    And the rationale of probiotic.consult_first mentions "Not every probiotic caution"
    And the plan does not suggest probiotic.trial
