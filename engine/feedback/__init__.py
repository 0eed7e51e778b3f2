"""Citizens' feedback and recommendations (phản ánh, kiến nghị) about procedures.

A feedback sent through the public form (engine.feedback.service.submit_feedback) is received as a
dossier of the catalogue's feedback procedure (kind "feedback", workflows/bpmn/feedback.bpmn), so
inboxes, deadlines, alerts and apology letters treat it like any dossier; engine.feedback.steps keeps
the `feedback` row in step with its workflow; reports never count it as an administrative dossier
(engine.feedback.scope). `published_answers` serves the procedure's public page.
"""

from engine.feedback.answers import PublishedAnswer, procedure_answers, published_answers

__all__ = ["PublishedAnswer", "procedure_answers", "published_answers"]
