"""Population batches: a file of intakes in, one output or reject per input line, in order.

``gbrules batch IN OUT`` streams in constant memory. Every input line (or Parquet row) gives
exactly one record: an Evaluation (or, with ``--summary``, ``{patient_id, line, codes,
requires_immediate_action}``) in OUT, or a reject with its 1-based line number and every field
error in the rejects file (``--rejects FILE``, default ``OUT.rejects``). Nothing is lost,
nothing duplicated, and input order is kept, whatever the number of workers or interruptions:
a run keeps a manifest beside OUT (``OUT.manifest.json``) and commits its progress durably,
so ``--resume`` after Ctrl-C, SIGKILL or a power cut continues exactly after the last
committed line with the run's own options, and gives the bytes an uninterrupted run gives.

Modules, each importing only those above it (no cycle):

``records``    the plain values (input records, chunks, outcomes, ``BatchUsageError``)
``files``      durable steps (fsync, atomic replace)
``manifest``   the manifest: what was read, the settings, the committed progress
``options``    ``BatchOptions`` (what a caller asks) and how it is settled on resume
``work``       evaluating records, one engine per process (all a worker needs)
``ndjson``     NDJSON input and line output (OUT, rejects)
``parquet``    Parquet input and part-file output (the ``parquet`` extra, imported on demand)
``formats``    the reader/writer interface and the choice by format
``executors``  in-process, local process pool, Dask
``run``        ``run_batch``: the loop and its commit protocol
"""

from gbrules.io.batch.options import BatchOptions
from gbrules.io.batch.records import BatchUsageError, Format
from gbrules.io.batch.run import BatchStats, run_batch

__all__ = ["BatchOptions", "BatchStats", "BatchUsageError", "Format", "run_batch"]
