"""Production runs past one process: sharded, resumable generation and the merge of shard files.

* :mod:`~fastzdc.production.shards`: which rows a shard writes (``--shard i/n`` or the batch system's
  environment);
* :mod:`~fastzdc.production.provenance`: the hashes that tie a shard to its model and conditions;
* :mod:`~fastzdc.production.workdir`: the folder of completed chunks a killed run resumes from;
* :mod:`~fastzdc.production.generate`: generation of a shard's rows, chunk by chunk;
* :mod:`~fastzdc.production.merge`: shard files joined into one file, with every check.
"""
