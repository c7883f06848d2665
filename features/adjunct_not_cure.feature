Feature: Probiotics and diet are an adjunct, not a cure
  Probiotics and diet changes can support care for mood and gut symptoms, but they do not
  replace psychotherapy or medication. Whenever a probiotic is part of the picture the draft says
  so, and when mood symptoms are moderate or worse the mental-health care stays in the plan.

  Scenario: A probiotic trial alongside moderate depression keeps the mental-health plan
    Given a patient aged 52
    And the patient is male
    And the patient has IBS
    And PHQ-9 total 13 with item 9 0
    And celiac serology negative
    And no GI alarm features
    And no probiotic cautions
    And the patient wants a probiotic trial
    When the plan is drafted
    Then the plan suggests probiotic.trial
    And the rationale of probiotic.trial mentions "not a replacement for"
    And the plan suggests education.adjunct_not_cure
    And the plan suggests referral.mental_health
    And the plan suggests medication.review

  Scenario: A patient already taking a probiotic hears the same message
    Given a patient aged 31
    And the patient takes a probiotic
    And PHQ-9 total 11 with item 9 0
    When the plan is drafted
    Then the plan suggests education.adjunct_not_cure
    And the plan suggests referral.mental_health
    And the plan does not suggest probiotic.trial

  Scenario: Severe depression is never left to a probiotic alone
    Given a patient aged 52
    And the patient is male
    And the patient has IBS
    And PHQ-9 total 21 with item 9 0
    And celiac serology negative
    And no GI alarm features
    And no probiotic cautions
    And the patient takes a probiotic
    When the plan is drafted
    Then the plan suggests referral.mental_health with priority urgent
    And the plan suggests education.adjunct_not_cure
    And the rationale of education.adjunct_not_cure mentions "do not replace"
