Feature: Conditions and situations that change the wording or hold an item
  Bipolar disorder: psychiatric review, never an antidepressant suggestion (NICE CG185). An
  eating disorder: no restrictive diet, eating-disorder services first (NICE NG69). A
  gluten-free diet: celiac serology needs a gluten challenge first, and no low-FODMAP until then
  (NICE NG20). "Short-term SSRI" only for a first episode; recurrent depression gets a
  maintenance review (NICE NG222); pregnancy and breastfeeding get perinatal framing (NICE
  CG192). Severe anxiety with thoughts of self-harm never asked about gets the screening prompt.

  Background:
    Given a patient aged 40

  Scenario Outline: Bipolar disorder - psychiatric review, no antidepressant wording
    Given the patient has bipolar disorder
    And PHQ-9 total <phq9> with item 9 0
    When the plan is drafted
    Then the plan <outcome>
    And no suggestion proposes an antidepressant

    Examples:
      | phq9 | outcome                                               |
      | 9    | does not suggest referral.mental_health               |
      | 10   | suggests referral.mental_health with priority routine |
      | 16   | suggests referral.mental_health with priority routine |
      | 22   | suggests referral.mental_health with priority urgent  |

  Scenario: The bipolar review says why
    Given the patient has bipolar disorder
    And PHQ-9 total 14 with item 9 0
    When the plan is drafted
    Then the title of referral.mental_health mentions "bipolar"
    And the rationale of referral.mental_health mentions "monotherapy is not advised"
    And the plan does not suggest medication.review

  Scenario: Bipolar disorder already on an SSRI - GI symptoms reviewed with the prescriber
    Given the patient has bipolar disorder
    And the patient takes an SSRI
    And the patient has bloating
    When the plan is drafted
    Then the plan suggests medication.review

  Scenario Outline: An eating disorder holds any restrictive diet
    Given the patient <has> an eating disorder
    And the patient has IBS
    And abdominal pain score is 7
    And celiac serology negative
    And no GI alarm features
    When the plan is drafted
    Then the plan <referral>
    And the plan <fodmap>

    Examples:
      | has           | referral                                  | fodmap                                 |
      | has           | suggests referral.eating_disorder         | does not suggest diet.low_fodmap_trial |
      | does not have | does not suggest referral.eating_disorder | suggests diet.low_fodmap_trial         |

  Scenario: The low-FODMAP trial is shown as held because of the eating disorder
    Given the patient has an eating disorder
    And the patient has IBS
    And abdominal pain score is 7
    And celiac serology negative
    And no GI alarm features
    When the plan is drafted
    Then diet.low_fodmap_trial is suppressed because "eating disorder"
    And the plan does not suggest referral.dietitian

  Scenario: A gluten-free diet makes a negative celiac serology unreliable
    Given the patient is on a gluten-free diet
    And the patient has IBS
    And abdominal pain score is 7
    And celiac serology negative
    And no GI alarm features
    When the plan is drafted
    Then the plan suggests lab.celiac_serology
    And the rationale of lab.celiac_serology mentions "gluten challenge"
    And diet.low_fodmap_trial is suppressed because "gluten challenge"

  Scenario: Celiac disease already diagnosed and a gluten-free diet - no challenge
    Given the patient is on a gluten-free diet
    And the patient has celiac disease
    And the patient has bloating
    When the plan is drafted
    Then the plan does not suggest lab.celiac_serology

  Scenario Outline: SSRI wording by episode history
    Given PHQ-9 total 12 with item 9 0
    And the patient does not take an SSRI
    And the patient <history> recurrent depression
    When the plan is drafted
    Then the rationale of medication.review mentions "<says>"
    And the rationale of medication.review does not mention "<never>"

    Examples:
      | history       | says                                | never            |
      | has           | at least 6 months after remission   | a short-term SSRI |
      | does not have | a short-term SSRI                   | maintenance      |

  Scenario: Episode history not recorded - ask before any "short-term" framing
    Given PHQ-9 total 12 with item 9 0
    And the patient does not take an SSRI
    When the plan is drafted
    Then the rationale of medication.review mentions "Ask about earlier episodes"
    And the rationale of medication.review does not mention "a short-term SSRI"

  Scenario Outline: Pregnancy or breastfeeding - perinatal framing
    Given the patient is female
    And the patient is <state>
    And PHQ-9 total 12 with item 9 0
    When the plan is drafted
    Then the title of medication.review mentions "pregnancy or breastfeeding"
    And the title of referral.mental_health mentions "perinatal"
    And the rationale of medication.review does not mention "short-term"

    Examples:
      | state         |
      | pregnant      |
      | breastfeeding |

  Scenario Outline: Severe anxiety with self-harm thoughts never asked about
    Given GAD-7 total is <gad7>
    When the plan is drafted
    Then the plan <outcome>

    Examples:
      | gad7 | outcome                                                     |
      | 14   | does not suggest safety.screen_suicide_risk                 |
      | 15   | suggests safety.screen_suicide_risk with priority urgent    |
      | 21   | suggests safety.screen_suicide_risk with priority urgent    |

  Scenario: Severe anxiety when self-harm thoughts were asked about
    Given GAD-7 total is 18
    And PHQ-9 total 8 with item 9 0
    When the plan is drafted
    Then the plan does not suggest safety.screen_suicide_risk
