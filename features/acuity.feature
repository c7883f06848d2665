Feature: Acuity and inflammation gate the trials
  A raised CRP (> 10 mg/L) or faecal calprotectin (> 200 ug/g), fever or an abdominal or rectal
  mass, with GI symptoms or IBS, is not IBS: the draft asks for an urgent GI evaluation and
  holds the low-FODMAP and probiotic trials (NICE CG61: a normal CRP is part of the IBS
  diagnosis; NICE DG11; NICE NG12). Sudden severe abdominal pain needs prompt assessment too.
  A calprotectin of 50-200 ug/g is repeated or reviewed; recent diarrhoea or a change in bowel
  habit in an adult under 50 without alarm features gets a calprotectin (NICE DG11).

  Background:
    Given a patient aged 35
    And the patient has IBS
    And abdominal pain score is 6
    And symptom weeks is 30
    And celiac serology negative
    And no GI alarm features
    And no acute GI signs
    And no probiotic cautions

  Scenario: Without acute findings the trials may be drafted
    Given the patient wants a probiotic trial
    When the plan is drafted
    Then the plan does not suggest referral.urgent_gi
    And the plan suggests diet.low_fodmap_trial
    And the plan suggests probiotic.trial

  Scenario Outline: CRP above 10 mg/L calls for urgent evaluation and holds the trials
    Given CRP <crp> mg/L
    When the plan is drafted
    Then the plan <urgent>
    And the plan <trial>

    Examples:
      | crp   | urgent                                           | trial                                  |
      | 10.0  | does not suggest referral.urgent_gi              | suggests diet.low_fodmap_trial         |
      | 10.1  | suggests referral.urgent_gi with priority urgent | does not suggest diet.low_fodmap_trial |
      | 150   | suggests referral.urgent_gi with priority urgent | does not suggest probiotic.trial       |

  Scenario Outline: Faecal calprotectin above 200 ug/g calls for urgent evaluation
    Given faecal calprotectin <value> ug/g
    When the plan is drafted
    Then the plan <urgent>
    And the plan <repeat>

    Examples:
      | value | urgent                                           | repeat                                  |
      | 49    | does not suggest referral.urgent_gi              | does not suggest lab.fecal_calprotectin |
      | 50    | does not suggest referral.urgent_gi              | suggests lab.fecal_calprotectin         |
      | 200   | does not suggest referral.urgent_gi              | suggests lab.fecal_calprotectin         |
      | 201   | suggests referral.urgent_gi with priority urgent | does not suggest lab.fecal_calprotectin |

  Scenario Outline: Fever or an abdominal mass with GI symptoms
    Given the patient <has> <finding>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | has             | finding         | outcome                                          |
      | has             | fever           | suggests referral.urgent_gi with priority urgent |
      | does not have   | fever           | does not suggest referral.urgent_gi              |
      | has             | an abdominal mass | suggests referral.urgent_gi with priority urgent |
      | does not have   | an abdominal mass | does not suggest referral.urgent_gi            |

  Scenario: The urgent evaluation names the finding and holds the trials
    Given CRP 150 mg/L
    And the patient has fever
    And the patient wants a probiotic trial
    And weeks of first-line care is 12
    When the plan is drafted
    Then the rationale of referral.urgent_gi mentions "CRP 150 mg/L (> 10), fever"
    And diet.low_fodmap_trial is suppressed because "acute or inflammatory cause"
    And probiotic.trial is suppressed because "acute or inflammatory cause"
    And referral.gastroenterology is suppressed because "One GI referral"
    And the plan suggests lab.inflammatory_workup
    And the plan does not suggest lab.repeat_crp

  Scenario: An abdominal mass is evaluated urgently whatever the pain
    Given abdominal pain score is 0
    And the patient has an abdominal mass
    When the plan is drafted
    Then the plan suggests referral.urgent_gi with priority urgent
    And the rationale of referral.urgent_gi mentions "abdominal or rectal mass"

  Scenario Outline: Sudden severe abdominal pain needs prompt assessment
    Given the symptoms began <how>
    And abdominal pain score is <pain>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | how       | pain | outcome                                          |
      | suddenly  | 6    | does not suggest referral.urgent_gi              |
      | suddenly  | 7    | suggests referral.urgent_gi with priority urgent |
      | gradually | 10   | does not suggest referral.urgent_gi              |

  Scenario: Sudden severe pain holds the trials
    Given the symptoms began suddenly
    And abdominal pain score is 8
    And the patient wants a probiotic trial
    When the plan is drafted
    Then diet.low_fodmap_trial is suppressed because "sudden severe pain"
    And probiotic.trial is suppressed because "sudden severe pain"

  Scenario Outline: Calprotectin for recent diarrhoea in an adult under 50
    Given a patient aged <age>
    And the patient has diarrhoea
    And symptom weeks is <weeks>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | age | weeks | outcome                                 |
      | 17  | 20    | does not suggest lab.fecal_calprotectin |
      | 18  | 20    | suggests lab.fecal_calprotectin         |
      | 49  | 51    | suggests lab.fecal_calprotectin         |
      | 49  | 52    | does not suggest lab.fecal_calprotectin |
      | 50  | 20    | does not suggest lab.fecal_calprotectin |

  Scenario: Calprotectin for IBS-D under 50
    Given symptom weeks is 20
    And IBS subtype IBS-D
    When the plan is drafted
    Then the plan suggests lab.fecal_calprotectin
    And the rationale of lab.fecal_calprotectin mentions "inflammatory bowel disease"

  Scenario: No calprotectin suggestion once one is on record
    Given the patient has diarrhoea
    And symptom weeks is 20
    And faecal calprotectin 30 ug/g
    And the faecal calprotectin was measured on 2025-03-01
    When the plan is drafted
    Then the plan does not suggest lab.fecal_calprotectin

  Scenario: No calprotectin when an alarm feature already calls for urgent evaluation
    Given the patient has diarrhoea
    And symptom weeks is 20
    And the patient has rectal bleeding
    When the plan is drafted
    Then the plan does not suggest lab.fecal_calprotectin
    And the plan suggests referral.urgent_gi
