"""Cổng Dịch vụ công quốc gia (DVCQG): every dossier kept in step with the national portal.

- `outbox`: messages queued in the transaction of the change they report (never lost, never ahead
  of what was committed);
- `messages`: the portal's payloads (`DongBoHoSoMC`, `CapNhatTienDoHoSoMC`) built from our rows and
  the editable mappings;
- `client`: the adapter's HTTP session (log in, reuse, renew once when refused);
- `sync`: the sender: one dossier's messages in order, dossiers in parallel, retries with backoff,
  a failed message waiting for an administrator, an uncertain one looked up before it is sent again.
"""
