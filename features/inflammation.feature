Feature: Inflammation - reading CRP
  Above 3 mg/L, CRP counts as high (the low-grade inflammation seen in depression research) and,
  with low mood or gut symptoms, prompts a review for inflammatory conditions. Above 10 mg/L an
  acute process is more likely: the draft asks for a clinical look and a repeat test once things
  settle, rather than reading it as low-grade inflammation. mg/dL is converted (x10).

  Background:
    Given a patient aged 45
    And the patient has IBS
    And the patient has recurrent depression

  Scenario Outline: CRP thresholds at 3 and 10 mg/L
    Given CRP <crp> mg/L
    When the plan is drafted
    Then the plan <workup>
    And the plan <repeat>

    Examples:
      | crp  | workup                                 | repeat                           |
      | 2.9  | does not suggest lab.inflammatory_workup | does not suggest lab.repeat_crp |
      | 3.0  | does not suggest lab.inflammatory_workup | does not suggest lab.repeat_crp |
      | 3.1  | suggests lab.inflammatory_workup       | does not suggest lab.repeat_crp  |
      | 10.0 | suggests lab.inflammatory_workup       | does not suggest lab.repeat_crp  |
      | 10.1 | suggests lab.inflammatory_workup       | suggests lab.repeat_crp          |

  Scenario: CRP in mg/dL is converted before the thresholds apply
    Given CRP 0.35 mg/dL
    When the plan is drafted
    Then the plan suggests lab.inflammatory_workup
    And the rationale of lab.inflammatory_workup mentions "CRP (mg/L) 3.5"

  Scenario: A very high CRP is repeated, not read as low-grade inflammation
    Given CRP 42 mg/L
    When the plan is drafted
    Then the plan suggests lab.repeat_crp
    And the rationale of lab.repeat_crp mentions "about 2 weeks apart"
    And the plan suggests lab.inflammatory_workup

  Scenario: A high CRP on its own, without mood or gut symptoms, is left to the clinician
    Given a patient aged 45
    And the patient does not have IBS
    And the patient does not have recurrent depression
    And CRP 5 mg/L
    When the plan is drafted
    Then the plan does not suggest lab.inflammatory_workup

  Scenario: IBS with recurrent depression and no CRP on record
    When the plan is drafted
    Then the plan suggests lab.inflammatory_workup
    And the rationale of lab.inflammatory_workup mentions "No CRP on record"
