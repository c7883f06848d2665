Feature: Crisis resources follow the site's country
  The rulebook declares the country whose crisis lines every draft, CDS card and CarePlan
  shows (rules/rulebook.yaml settings.crisis_country; the sets are in rules/crisis_lines.yaml).
  The default rulebook is set for the United States; a site pack chooses another country.

  Background:
    Given a patient aged 30
    And the patient reports suicidal ideation

  Scenario: The default rulebook gives the US lines, and says so
    When the plan is drafted
    Then the draft mentions "crisis resources (United States)"
    And the draft mentions "988 Suicide & Crisis Lifeline"
    And the patient draft mentions "call 911"
    And the card mentions "https://988lifeline.org"
    And the CarePlan mentions "988 Suicide & Crisis Lifeline"
    And the draft does not mention "Samaritans"

  Scenario: A UK site pack gives the UK lines everywhere
    Given the site rule pack "examples/site-pack-uk"
    When the plan is drafted
    Then the draft mentions "crisis resources (United Kingdom)"
    And the draft mentions "Samaritans (call 116 123)"
    And the patient draft mentions "call 999"
    And the patient draft mentions "NHS 111"
    And the card mentions "https://www.samaritans.org"
    And the CarePlan mentions "option 2 for mental health"
    And the draft does not mention "988"
    And the card does not mention "988"
    And the CarePlan does not mention "911"

  Scenario: Without a crisis the draft shows no crisis banner
    Given the patient does not report suicidal ideation
    And PHQ-9 total 3 with item 9 0
    When the plan is drafted
    Then the draft does not mention "Crisis resources"
