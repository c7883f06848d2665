Feature: Case 2 - recurrent depression with IBS-type symptoms
  A 48-year-old with recurrent depression (PHQ-9 16) and IBS has a CRP of 0.42 mg/dL and has
  never been tested for celiac disease. The draft should ask for a medical review, a
  mental-health referral, dietitian support and a provider-guided probiotic trial.

  Background:
    Given the bundled example "case2"

  Scenario: Medical review for inflammation and celiac disease comes with the plan
    When the plan is drafted
    Then the plan suggests lab.inflammatory_workup
    And the rationale of lab.inflammatory_workup mentions "CRP (mg/L) 4.2"
    And the plan suggests lab.celiac_serology

  Scenario: Mental-health referral and a medication review with the prescriber
    When the plan is drafted
    Then the plan suggests referral.mental_health with priority routine
    And the plan suggests medication.review
    And the rationale of referral.mental_health mentions "PHQ-9 total 16 (moderately severe"

  Scenario: Dietitian, Mediterranean diet and a probiotic trial as an adjunct
    When the plan is drafted
    Then the plan suggests referral.dietitian
    And the plan suggests diet.mediterranean
    And the plan suggests probiotic.trial
    And the rationale of probiotic.trial mentions "adjunct"
    And the plan suggests education.adjunct_not_cure

  Scenario: No low-FODMAP trial until celiac serology is negative
    When the plan is drafted
    Then the plan does not suggest diet.low_fodmap_trial

  Scenario: Once celiac serology is negative a low-FODMAP trial may be drafted
    Given celiac serology negative
    When the plan is drafted
    Then the plan suggests diet.low_fodmap_trial
    And the plan does not suggest lab.celiac_serology

  Scenario: Case 2 with milder IBS - no low-FODMAP trial even after a negative serology
    Given celiac serology negative
    And abdominal pain score is 4
    When the plan is drafted
    Then the plan does not suggest diet.low_fodmap_trial
    And the plan suggests diet.mediterranean

  Scenario: Case 2 with symptoms for 30 weeks but no first-line care on record - no GI referral yet
    When the plan is drafted
    Then the plan does not suggest referral.gastroenterology

  Scenario: Case 2 not settled after 12 weeks of first-line care - gastroenterology
    Given weeks of first-line care is 12
    When the plan is drafted
    Then the plan suggests referral.gastroenterology

  Scenario: Case 2 with a new change in bowel habit at 50 - evaluate first, trials held
    Given a patient aged 50
    And the patient has a new change in bowel habit
    When the plan is drafted
    Then the plan suggests referral.urgent_gi with priority urgent
    And the plan does not suggest probiotic.trial
    And the plan does not suggest diet.low_fodmap_trial
