"""`shoal bench`: placement benchmarks as a command (issue 8).

    perf_config.py   kube-scheduler's scheduler_perf configuration -> one WorkloadPlan per
                     (test case, workload): steps, templates resolved, `$param`s substituted,
                     what Shoal cannot run listed
    runner.py        a plan through shoal.sched in library mode: init pods placed first, the
                     `collectMetrics` pods timed, every placement replayed by checker.py
    checker.py       an independent placement checker (shares no code with shoal.sched)
    scale.py         synthetic clusters: pods/s against nodes, with and without equivalence classes
    report.py        result.json, summary.md, PNG plots (matplotlib, optional)
    progress.py      one line per case with its elapsed time, on stderr
    commands.py      the `shoal bench` subcommands (entry point `bench`)

Importing this package loads nothing heavy.
"""
