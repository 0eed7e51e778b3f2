"""The domain: BPMN procedures, working-time calendar, dossier runtime. No Flask here."""
