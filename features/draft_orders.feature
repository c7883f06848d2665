Feature: Draft orders - only what a safety rule names is flagged
  When a clinician signs orders (the order-select hook), a draft order is flagged only when a
  rule of the rulebook names it: a probiotic while a probiotic caution applies, or a diet order
  whose plan item a safety rule deferred or suppressed. Any other order is never judged, so no
  card asks to stop a medicine. A texture-modified diet, thickened fluids or an enteral feed is
  never flagged, and an order holding one is never suggested for removal.

  Scenario: During a crisis, an elective diet order is flagged as deferred
    Given the bundled example "crisis"
    And a draft diet order "Mediterranean diet"
    When the plan is drafted
    Then the draft order "Mediterranean diet" is flagged by safety.crisis.self_harm_thoughts
    And removing the draft order "Mediterranean diet" is suggested

  Scenario: During a crisis, a pureed diet, a nutritional supplement and a medicine are not flagged
    Given the bundled example "crisis"
    And a draft pureed diet order
    And a draft supplement "High-protein oral nutritional supplement"
    And a draft medicine order "sertraline" with ATC code N06AB06
    When the plan is drafted
    Then no draft order is flagged

  Scenario: Without a crisis, the same elective diet order is not flagged
    Given the bundled example "case1"
    And a draft diet order "Mediterranean diet"
    When the plan is drafted
    Then no draft order is flagged

  Scenario: A probiotic order while a probiotic caution applies is flagged
    Given a patient aged 35
    And the patient has IBS
    And celiac serology negative
    And no GI alarm features
    And no probiotic cautions
    And the patient is immunocompromised
    And a draft supplement "Lactobacillus rhamnosus GG capsule"
    And a draft medicine order "Saccharomyces boulardii" with ATC code A07FC02
    When the plan is drafted
    Then the draft order "Lactobacillus rhamnosus GG capsule" is flagged by probiotics.caution.consult_first
    And the draft order "Saccharomyces boulardii" is flagged by probiotics.caution.consult_first

  Scenario: A probiotic order without any probiotic caution is not flagged
    Given a patient aged 35
    And the patient has IBS
    And celiac serology negative
    And no GI alarm features
    And no probiotic cautions
    And the patient wants a probiotic trial
    And a draft supplement "Lactobacillus rhamnosus GG capsule"
    And a draft medicine order "Saccharomyces boulardii" with ATC code A07FC02
    When the plan is drafted
    Then the plan suggests probiotic.trial
    And no draft order is flagged
