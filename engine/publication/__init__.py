"""The public procedure catalogue (/thu-tuc and /api/v1/public/procedures): what each procedure asks of
the applicant and how it is handled, the forms its process owner publishes, the completeness of what
is published, and the on-time rate shown beside it. Everything here is public information: no officer
name, no internal id leaves these functions."""
