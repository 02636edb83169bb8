"""zbus.store: the per-node LMDB journal (events, stream state, checkpoints, dead letters, retention).

Installed as ``zbus.store``. Pieces, each in its own module:

- :class:`Journal` (``journal.py`` + ``reads.py``): one LMDB environment; batch appends of exact wire
  frames, range / time / tail reads, stream heads, the node epoch; lmdb errors mapped to ``JournalError``.
- :class:`GroupCommitter` (``commit.py``): batches appends by count or time on one writer thread so the
  event loop never waits for a commit or an fsync; durable futures; backpressure on a full map.
- :class:`Checkpoints`, :class:`DeadLetters`: durable-subscription watermarks and the dead-letter store.
- :func:`sweep` (``retention.py``): age, topic-prefix and size retention.
- :func:`verify` (``verify.py``): every record, index entry and stream checked offline.
- ``keys.py``: the key layouts (pure); ``envelope.py``: the checksum around each stored value (pure);
  ``datafile.py``: the data file's size checked against its header before LMDB maps it.
"""

from .checkpoints import Checkpoints as Checkpoints
from .commit import CommitterStatistics as CommitterStatistics
from .commit import FlushPolicy as FlushPolicy
from .commit import GroupCommitter as GroupCommitter
from .deadletters import DeadLetterRecord as DeadLetterRecord
from .deadletters import DeadLetters as DeadLetters
from .journal import Journal as Journal
from .records import JournalRecord as JournalRecord
from .records import JournalStatistics as JournalStatistics
from .records import StreamState as StreamState
from .retention import SweepResult as SweepResult
from .retention import is_expired as is_expired
from .retention import sweep as sweep
from .retention import ttl_for as ttl_for
from .verify import VerifyReport as VerifyReport
from .verify import verify as verify

__all__ = [
    "Checkpoints",
    "CommitterStatistics",
    "DeadLetterRecord",
    "DeadLetters",
    "FlushPolicy",
    "GroupCommitter",
    "Journal",
    "JournalRecord",
    "JournalStatistics",
    "StreamState",
    "SweepResult",
    "VerifyReport",
    "is_expired",
    "sweep",
    "ttl_for",
    "verify",
]
