"""Tools around the core: JSONL transcripts (:mod:`.trace`), capture replay
(:mod:`.replay`, which reads files and imports dpkt lazily) and ladder diagrams
(:mod:`.ladder`)."""

from __future__ import annotations
