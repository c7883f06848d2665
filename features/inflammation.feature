Feature: Inflammation - reading CRP
  Above 3 mg/L, CRP counts as high (the low-grade inflammation seen in depression research) and,
  with low mood or gut symptoms, prompts a review for inflammatory conditions. Above 10 mg/L an
  acute process is more likely: with gut symptoms or IBS that is a prompt GI evaluation and the
  diet and probiotic trials wait (see acuity.feature); without gut symptoms and without fever a
  repeat test once things settle is drafted, rather than reading it as low-grade inflammation.
  mg/dL is converted (x10).

  Background:
    Given a patient aged 45
    And the patient has IBS
    And the patient has recurrent depression

  Scenario Outline: CRP thresholds at 3 and 10 mg/L in IBS
    Given CRP <crp> mg/L
    When the plan is drafted
    Then the plan <workup>
    And the plan <urgent>
    And the plan does not suggest lab.repeat_crp

    Examples:
      | crp  | workup                                   | urgent                                           |
      | 2.9  | does not suggest lab.inflammatory_workup | does not suggest referral.urgent_gi              |
      | 3.0  | does not suggest lab.inflammatory_workup | does not suggest referral.urgent_gi              |
      | 3.1  | suggests lab.inflammatory_workup         | does not suggest referral.urgent_gi              |
      | 10.0 | suggests lab.inflammatory_workup         | does not suggest referral.urgent_gi              |
      | 10.1 | suggests lab.inflammatory_workup         | suggests referral.urgent_gi with priority urgent |

  Scenario: CRP in mg/dL is converted before the thresholds apply
    Given CRP 0.35 mg/dL
    When the plan is drafted
    Then the plan suggests lab.inflammatory_workup
    And the rationale of lab.inflammatory_workup mentions "CRP (mg/L) 3.5"

  Scenario Outline: A raised CRP with nothing acute suspected is repeated before it is read
    Given the patient does not have IBS
    And the patient does not have bloating
    And the patient does not have irregular bowel movements
    And the patient does not have a new change in bowel habit
    And the patient does not have diarrhoea
    And abdominal pain score is 0
    And the patient does not have fever
    And CRP <crp> mg/L
    When the plan is drafted
    Then the plan <repeat>
    And the plan does not suggest referral.urgent_gi

    Examples:
      | crp  | repeat                          |
      | 10.0 | does not suggest lab.repeat_crp |
      | 10.1 | suggests lab.repeat_crp         |
      | 42   | suggests lab.repeat_crp         |

  Scenario: The repeat names its spacing and that nothing acute is suspected
    Given the patient does not have IBS
    And the patient does not have bloating
    And the patient does not have irregular bowel movements
    And the patient does not have a new change in bowel habit
    And the patient does not have diarrhoea
    And abdominal pain score is 0
    And the patient does not have fever
    And CRP 42 mg/L
    When the plan is drafted
    Then the rationale of lab.repeat_crp mentions "about 2 weeks apart"
    And the rationale of lab.repeat_crp mentions "no GI symptoms and no fever"
    And the plan suggests lab.inflammatory_workup

  Scenario: Without a record of fever a raised CRP is not waved through as "repeat later"
    Given the patient does not have IBS
    And the patient does not have bloating
    And the patient does not have irregular bowel movements
    And the patient does not have a new change in bowel habit
    And the patient does not have diarrhoea
    And abdominal pain score is 0
    And CRP 42 mg/L
    When the plan is drafted
    Then the plan does not suggest lab.repeat_crp
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
