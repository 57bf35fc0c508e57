"""The `mlops` commands, one module per group; `mlopsctl.cli` registers them in this order.

- ``init``       a project from data: init writes a commented mlops.toml from a CSV
- ``local``      local AWS and the stack on it: setup, up, down, deploy, local-status
- ``pipeline``   data in, scoring and training: train, redrive, audit, seed, add-training-data, score
- ``provenance`` where a model came from: reproduce (train a run again from its recorded inputs), lineage (a
                 version's chain from data to the batches it scored; which model scored a file)
- ``models``     the champion and the challenger: status, challenge, rollback
- ``decisions``  people decide about models: approve, reject, register
- ``reports``    what happened, shown: report, demo
- ``image``      the training image on this machine: image build (a group: `mlops image build`)
- ``tracking``   the registry in MLflow: mlflow sync (a group: `mlops mlflow sync`)
- ``common``     what the groups share: the repository root, the stack a command connects to
                 (`connect`), the --target option, progress on stderr, `CliError`

The commands parse options and print; the work is in the modules beside this package (`infer`,
`initwrite`, `stack`, `runs`, `batches`, `standing`, `approvals`, `register`, `report`, `lineage`, `demo`,
`image`, ...), which never import it.
"""
