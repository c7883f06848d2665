Feature: Supplements and severe mood change (the seed's "when to seek help")
  A supplement, melatonin included, taken or planned with a serious or chronic illness,
  pregnancy or breastfeeding, or a medicine it can interact with, is reviewed with the provider
  first. A severe or rapid change in mood or behaviour (marked agitation, psychotic or manic
  symptoms, severe self-neglect: NICE NG222, CG185) is an urgent mental-health trigger.

  Background:
    Given a patient aged 40
    And the patient is female

  Scenario Outline: Melatonin or a supplement with a reason for caution - provider review first
    Given the patient takes <supplement>
    And the patient <is> <reason>
    When the plan is drafted
    Then the plan suggests medication.supplement_review
    And the rationale of medication.supplement_review mentions "melatonin included"

    Examples:
      | supplement  | is    | reason                      |
      | melatonin   | takes | an SSRI                     |
      | melatonin   | is    | pregnant                    |
      | supplements | has   | inflammatory bowel disease  |
      | supplements | takes | an anticoagulant            |
      | melatonin   | is    | immunocompromised           |

  Scenario: Melatonin with no reason for caution recorded present - no item
    Given the patient takes melatonin
    And the patient does not take an SSRI
    And the patient is not pregnant
    When the plan is drafted
    Then the plan does not suggest medication.supplement_review

  Scenario: A reason for caution but no supplement - no item
    Given the patient takes an SSRI
    And the patient does not take supplements
    And the patient does not take melatonin
    When the plan is drafted
    Then the plan does not suggest medication.supplement_review

  Scenario: A severe change in mood is an urgent mental-health trigger
    Given the patient has a severe change in mood
    And PHQ-9 total 6 with item 9 0
    When the plan is drafted
    Then the plan suggests referral.mental_health with priority urgent
    And the rationale of referral.mental_health mentions "urgent assessment"

  Scenario: Without a severe change in mood, mild symptoms are not referred
    Given the patient does not have a severe change in mood
    And PHQ-9 total 6 with item 9 0
    When the plan is drafted
    Then the plan does not suggest referral.mental_health

  Scenario: Under 18 a severe change in mood goes urgently to CAMHS
    Given a patient aged 15
    And the patient has a severe change in mood
    When the plan is drafted
    Then the plan suggests referral.paediatric with priority urgent
    And no suggestion proposes an antidepressant
