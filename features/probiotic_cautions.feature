Feature: Probiotic cautions - the provider reviews first
  A probiotic trial is drafted only for an adult with none of the recognised cautions
  (immunocompromise, a central venous catheter, critical illness, a prosthetic heart valve or
  endocarditis, short bowel syndrome, acute pancreatitis, pregnancy) and no serious chronic GI
  illness. Otherwise the draft asks for the provider's review first. A caution that was never
  asked about counts as possibly present. A probiotic already being taken despite a caution is
  reviewed urgently with the prescriber, and the plan then gives no probiotic or fermented-food
  advice. Diarrhoea after antibiotics is tested for C. difficile first.

  Background:
    Given a patient aged 35
    And the patient is female
    And the patient has IBS
    And celiac serology negative
    And no GI alarm features
    And no probiotic cautions

  Scenario: No cautions recorded present - a time-limited trial as an adjunct
    Given the patient wants a probiotic trial
    When the plan is drafted
    Then the plan suggests probiotic.trial
    And the rationale of probiotic.trial mentions "4 weeks at the labelled dose, then review"
    And the rationale of probiotic.trial mentions "strain-specific"
    And the rationale of probiotic.trial mentions "ACG 2021 suggests against"
    And the rationale of probiotic.trial mentions "AGA 2020"
    And the rationale of probiotic.trial mentions "adjunct"
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
      | has | a prosthetic heart valve  |
      | has | short bowel syndrome      |
      | has | acute pancreatitis        |

  Scenario Outline: A chronic GI illness means the treating team decides
    Given the patient has <illness>
    And the patient wants a probiotic trial
    When the plan is drafted
    Then the plan suggests probiotic.consult_first
    And probiotic.trial is suppressed because "treating team"

    Examples:
      | illness                    |
      | inflammatory bowel disease |
      | celiac disease             |

  Scenario Outline: A probiotic already taken despite a caution is reviewed urgently
    Given the patient <has> <caution>
    And the patient takes a probiotic
    When the plan is drafted
    Then the plan suggests medication.review with priority urgent
    And the rationale of medication.review mentions "<shown as>"
    And the plan suggests probiotic.consult_first
    And education.adjunct_not_cure is suppressed because "reviewed urgently"

    Examples:
      | has | caution                   | shown as               |
      | is  | immunocompromised         | immunocompromised      |
      | has | a central venous catheter | central venous         |
      | is  | critically ill            | critically ill         |
      | has | a prosthetic heart valve  | prosthetic heart valve |
      | has | short bowel syndrome      | short bowel            |
      | has | acute pancreatitis        | acute pancreatitis     |

  Scenario: A probiotic taken with no caution recorded present is not an urgent review
    Given the patient takes a probiotic
    When the plan is drafted
    Then the plan does not suggest medication.review
    And the plan suggests education.adjunct_not_cure

  Scenario: Pregnancy is a caution to discuss, not an urgent review of a probiotic
    Given the patient is pregnant
    And the patient takes a probiotic
    When the plan is drafted
    Then the plan suggests probiotic.consult_first
    And the plan does not suggest medication.review

  Scenario: No fermented-food advice beside a probiotic taken despite a caution
    Given the patient has a central venous catheter
    And the patient takes a probiotic
    And the patient takes recent antibiotics
    And the patient does not have IBS
    And the patient has bloating
    When the plan is drafted
    Then the plan does not suggest diet.fiber
    And the plan suggests medication.review with priority urgent

  Scenario: Fermented foods after antibiotics when no caution is present
    Given the patient takes recent antibiotics
    And the patient does not have IBS
    And the patient has bloating
    When the plan is drafted
    Then the plan suggests diet.fiber
    And the rationale of diet.fiber mentions "fermented foods"

  Scenario Outline: The trial is drafted only if the patient wants it
    Given the patient <wants> a probiotic trial
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | wants          | outcome                          |
      | wants          | suggests probiotic.trial         |
      | does not want  | does not suggest probiotic.trial |

  Scenario: Not asked about a probiotic and first-line care not yet reviewed - no trial, even with pain 0
    Given abdominal pain score is 0
    When the plan is drafted
    Then the plan does not suggest probiotic.trial
    And the plan does not suggest education.adjunct_not_cure
    And the plan does not suggest probiotic.consult_first

  Scenario Outline: Symptoms persisting after 12 weeks of first-line care bring the trial
    Given weeks of first-line care is <weeks>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | weeks | outcome                          |
      | 11    | does not suggest probiotic.trial |
      | 12    | suggests probiotic.trial         |

  Scenario: Under 18 no probiotic trial is drafted from the adult IBS pathway
    Given a patient aged 17
    When the plan is drafted
    Then the plan does not suggest probiotic.trial
    And the plan suggests referral.paediatric

  Scenario Outline: Diarrhoea after recent antibiotics is tested for C. difficile first
    Given the patient has diarrhoea
    And the patient <antibiotics> recent antibiotics
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | antibiotics  | outcome                                        |
      | takes        | suggests lab.c_difficile with priority urgent  |
      | does not take | does not suggest lab.c_difficile              |

  Scenario: The probiotic trial waits until C. difficile is excluded
    Given the patient has diarrhoea
    And the patient takes recent antibiotics
    And the patient wants a probiotic trial
    When the plan is drafted
    Then probiotic.trial is suppressed because "C. difficile"

  Scenario: Cautions that were never asked about are not taken as absent
    Given pregnant is not recorded
    And the patient wants a probiotic trial
    When the plan is drafted
    Then the plan suggests probiotic.consult_first
    And the rationale of probiotic.consult_first mentions "not every probiotic caution"
    And the plan does not suggest probiotic.trial
