"""The rulebook review book (a static HTML site for a clinical governance group), sign-off of
rules in their YAML files, and the rulebook as a FHIR R4 Bundle."""
