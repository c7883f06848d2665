Feature: Depression and anxiety scores - where the plan changes
  PHQ-9 bands (Kroenke 2001): 5 mild, 10 moderate, 15 moderately severe, 20 severe. GAD-7 10 or
  more warrants further evaluation (Spitzer 2006). HAM-D 17: 17 moderate, 24 severe (Zimmerman
  2013). Severe symptoms on either depression scale call for a prompt (urgent) mental-health
  review. The draft never diagnoses: it suggests what the clinician may consider.

  Background:
    Given a patient aged 38
    And the patient does not have recurrent depression
    And the patient does not report suicidal ideation

  Scenario Outline: PHQ-9 9 versus 10 - moderate symptoms bring a mental-health referral
    Given PHQ-9 total <total> with item 9 0
    When the plan is drafted
    Then the plan <referral>
    And the plan <medication>

    Examples:
      | total | referral                                                | medication                          |
      | 9     | does not suggest referral.mental_health                 | does not suggest medication.review  |
      | 10    | suggests referral.mental_health with priority routine   | suggests medication.review          |

  Scenario Outline: PHQ-9 14 versus 15 - moderately severe symptoms need active treatment, even on an SSRI
    Given the patient takes an SSRI
    And PHQ-9 total <total> with item 9 0
    When the plan is drafted
    Then the plan <medication>

    Examples:
      | total | medication                         |
      | 14    | does not suggest medication.review |
      | 15    | suggests medication.review         |

  Scenario Outline: PHQ-9 19 versus 20 - severe symptoms make the referral urgent
    Given PHQ-9 total <total> with item 9 0
    When the plan is drafted
    Then the plan suggests referral.mental_health with priority <priority>

    Examples:
      | total | priority |
      | 19    | routine  |
      | 20    | urgent   |
      | 27    | urgent   |

  Scenario Outline: HAM-D 23 versus 24 - severe symptoms make the referral urgent
    Given HAM-D 17 total is <total>
    When the plan is drafted
    Then the plan <referral>

    Examples:
      | total | referral                                              |
      | 16    | does not suggest referral.mental_health               |
      | 17    | suggests referral.mental_health with priority routine |
      | 23    | suggests referral.mental_health with priority routine |
      | 24    | suggests referral.mental_health with priority urgent  |

  Scenario Outline: GAD-7 9 versus 10 - anxiety warrants evaluation and a breathing practice
    Given GAD-7 total is <total>
    When the plan is drafted
    Then the plan <referral>
    And the plan <breathing>

    Examples:
      | total | referral                                | breathing                         |
      | 9     | does not suggest referral.mental_health | does not suggest stress.breathing |
      | 10    | suggests referral.mental_health         | suggests stress.breathing         |

  Scenario Outline: PHQ-9 9 versus 10 - moderate low mood brings the Mediterranean-style pattern
    Given PHQ-9 total <total> with item 9 0
    When the plan is drafted
    Then the plan <diet>

    Examples:
      | total | diet                                |
      | 9     | does not suggest diet.mediterranean |
      | 10    | suggests diet.mediterranean         |

  Scenario: An SSRI with gut symptoms is reviewed with the prescriber, never stopped
    Given the patient takes an SSRI
    And the patient has bloating
    When the plan is drafted
    Then the plan suggests medication.review
    And the rationale of medication.review mentions "Do not stop"

  Scenario: A diagnosed anxiety disorder brings the breathing practice
    Given the patient has an anxiety disorder
    When the plan is drafted
    Then the plan suggests stress.breathing
