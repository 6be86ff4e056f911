"""`shoal bench`: placement benchmarks as a command (issue 8).

    perf_config.py   kube-scheduler's scheduler_perf configuration -> one WorkloadPlan per
                     (test case, workload): steps, templates resolved, `$param`s substituted,
                     what Shoal cannot run listed
    kube_thresholds.py kube-scheduler's published thresholds (later upstream scheduler_perf
                     versions) with their workloads' params and the commit they were read at;
                     Shoal's targets (100x / 10x) per case
    runner.py        a plan through shoal.sched in library mode: init pods placed first, the
                     `collectMetrics` pods timed, every placement replayed by checker.py
    checker.py       an independent placement checker (shares no code with shoal.sched)
    scale.py         synthetic clusters: pods/s against nodes, with and without equivalence classes
    cluster.py       --mode cluster: a real `shoal server` + hollow sim agents, pods through
                     BulkApply, a watch noting when each pod is bound and Running
    cluster_cases.py perf-config plans and scale points in cluster mode (nodes as hollow agents)
    churn.py         scheduler_perf's churn op on the wall clock against a real server
    report.py        result.json, summary.md, PNG plots (matplotlib, optional)
    regenerate.py    `shoal bench report`: run the suites, rewrite RESULTS.md's generated sections
    results_file.py  <!-- generated:NAME --> sections of a Markdown file, the rest kept
    progress.py      one line per case with its elapsed time, on stderr
    gpu_frag.py      `shoal bench gpu-frag`: the FGD paper's protocol (seeded sampling to 130%,
                     one-by-one arrivals) beside its published figures (sched/gpu policies)
    trace.py         `shoal bench trace`: a pod list replayed in simulated time, with queueing
    alibaba_trace.py the Alibaba GPU trace's node and pod lists; gpu_check.py checks GPU
                     placements independently; gpu_commands.py registers the two commands
    commands.py      the `shoal bench` subcommands (entry point `bench`)

Importing this package loads nothing heavy.
"""
