"""The test suite mirrors the source: tests/<package>/test_<module>.py tests <package>/<module>.py.

Shared fixtures (tiny models, the `seq2seq` command, and the toy task: corpus, SentencePiece model, trained run,
exported artifact) are in tests/conftest.py; the service's live servers in tests/service/conftest.py and live.py.
Cross-cutting files, named for what they check: tests/test_imports.py (the import graph),
tests/seq2seq/test_reverse_task.py (a toy task learned end to end), tests/service/test_compose.py (Dockerfile and
docker-compose.yml), tests/service/test_install_serve.py (the `[serve]` install alone, in a fresh environment).
"""
