"""HTTP translation service over an exported artifact (LibreTranslate-compatible API, docs/design.md §6).

Imports only what loads and runs the artifact (`seq2seq`, torch, sentencepiece) and the web stack;
never `training`. Entry points: `service.app.create_app(settings)`, `service.server.serve(settings)`,
`python -m service`.
"""
