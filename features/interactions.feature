Feature: Medicine interactions - reconcile the medicine list before anything else
  An SSRI with an MAOI (including linezolid and selegiline) is contraindicated: a critical
  interaction check, first in the plan after any crisis. An SSRI with St John's wort or another
  serotonergic medicine risks serotonin syndrome (urgent; Boyer 2005). An SSRI with an NSAID,
  aspirin, an anticoagulant or an antiplatelet raises GI bleeding risk (de Abajo 2008; NICE
  NG222): routine, urgent when there is rectal bleeding or anaemia. The draft asks the
  prescriber to review; it never changes a medicine itself.

  Background:
    Given a patient aged 45
    And the patient takes an SSRI

  Scenario: An SSRI with an MAOI is critical
    Given the patient takes an MAOI
    When the plan is drafted
    Then the plan suggests medication.interaction_check with priority critical
    And the first suggestion is medication.interaction_check
    And immediate action is required
    And the rationale of medication.interaction_check mentions "prescriber's decision"

  Scenario: A crisis still comes first
    Given the patient takes an MAOI
    And PHQ-9 total 15 with item 9 2
    When the plan is drafted
    Then the first suggestion is safety.crisis
    And the plan suggests medication.interaction_check with priority critical

  Scenario Outline: Serotonergic combinations are urgent
    Given the patient takes <medicine>
    When the plan is drafted
    Then the plan suggests medication.interaction_check with priority urgent
    And the rationale of medication.interaction_check mentions "serotonin syndrome"

    Examples:
      | medicine                      |
      | St John's wort                |
      | another serotonergic medicine |

  Scenario Outline: Bleeding risk - routine, urgent with rectal bleeding or anaemia
    Given the patient takes <medicine>
    And the patient <bleeding> <finding>
    When the plan is drafted
    Then the plan suggests medication.interaction_check with priority <priority>

    Examples:
      | medicine        | bleeding      | finding                 | priority |
      | an NSAID        | does not have | rectal bleeding         | routine  |
      | an NSAID        | has           | rectal bleeding         | urgent   |
      | an anticoagulant | does not have | iron-deficiency anaemia | routine  |
      | an anticoagulant | has           | iron-deficiency anaemia | urgent   |

  Scenario: No SSRI, no SSRI interaction
    Given the patient does not take an SSRI
    And the patient takes an MAOI
    And the patient takes an NSAID
    When the plan is drafted
    Then the plan does not suggest medication.interaction_check

  Scenario: An SSRI whose other medicines were not recorded is not flagged
    When the plan is drafted
    Then the plan does not suggest medication.interaction_check

  Scenario: The other medicine recorded as not taken
    Given the patient does not take an MAOI
    And the patient does not take St John's wort
    And the patient does not take another serotonergic medicine
    And the patient does not take an NSAID
    And the patient does not take an anticoagulant
    When the plan is drafted
    Then the plan does not suggest medication.interaction_check
