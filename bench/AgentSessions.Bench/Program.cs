using AgentSessions.Bench;
using AgentSessions.Bench.InProcess;
using AgentSessions.Bench.Remote;

const string Usage = """
Agent sessions benchmark: acknowledged-command latency and session throughput.
Progress goes to stderr; the results (tables, then one JSON line starting {"bench":"agent-sessions") go to stdout.
Targets are printed next to the figures, never asserted: the exit code is 0 unless the run could not measure.

  dotnet run -c Release --project bench/AgentSessions.Bench -- <mode> [options]

Modes:
  remote     against a running service (a local `func start` or a deployed app), over HTTP
      --base-url URL          e.g. http://localhost:7071 (required)
      --key KEY               API key, sent as Authorization: Bearer KEY (required)
      --sessions N            concurrent sessions (default 10)
      --duration S            seconds of closed-loop pause/resume (default 30)
      --message-seconds S     seconds of message→THOUGHT probes, then as many of message reads (default 10)
      --agent NAME            agent_name of the sessions (default agi-0)
      --steps N / --step-delay-ms MS   the scripted task, [steps=N] [delay=MS] (default 1000 / 500)
      --request-timeout S     per HTTP request (default 60)
      --report FILE.html      also write a self-contained HTML page of the run (every mode)

  inprocess  the real session orchestration vs a bare reference orchestration, in alternating phases, in this process
             (no Functions host); engine per --engine
      --engine in-memory|azure-storage
                              in-memory: Microsoft.DurableTask.InProcessTestHost's backend, no storage needed (default);
                              azure-storage: the Azure Storage provider (production backend) on an Azurite the tool starts
                              from node_modules (npm ci) on free ports, host.json's partitions, polling and slots
      --messages in-memory|table   message store (default: table on azure-storage, in-memory otherwise)
      --sessions N            concurrent sessions per phase (default 20)
      --duration S            total seconds of commands, split over rounds x 2 phases (default 40)
      --rounds R              rounds of (ours, bare), alternating who goes first (default 2)
      --steps N / --step-delay-ms MS   the scripted task (default 1000 / 500)
      --client raw|gateway    raw: both measured with the same raise-event + poll client (default);
                              gateway: ours through SessionGateway.SendAsync (one extra read per command)
      --message-seconds S     seconds of message→THOUGHT probes and of message reads (default duration/8, 1..5)
      --ack-timeout S         acknowledgement bound, as SESSIONS_ACK_TIMEOUT_SECONDS (default 10)
      --orchestration-slots N / --activity-slots N   work items the engine runs at once (default in memory 256 / 1024,
                              the test host's own default being one per core; on azure-storage host.json's 32 / 100)
      --report FILE.html      as for remote

  scale      in process: adds sessions in steps (each created, task running, one pause/resume) until
             --max, a failure, or the time cap; reports memory per session at each level; --engine as for inprocess
      --max N                 sessions to reach (default 1000)
      --step N                sessions added per level (default 100)
      --max-seconds S         time cap, checked between levels (default 180)
      --steps N / --step-delay-ms MS   the scripted task (default 1000 / 500)
      --ack-timeout S, --orchestration-slots N, --activity-slots N, --engine, --messages, --report   as for inprocess

  --help     this text
""";

if (args.Length == 0 || args.Any(a => a is "--help" or "-h" or "help"))
{
    Console.Out.WriteLine(Usage);
    return args.Length == 0 ? 1 : 0;
}

try
{
    var cli = Cli.Parse(args);
    _ = MachineLoad.AtStart;
    _ = HtmlReport.RunStart;
    if (cli.String("report") is { } reportPath)
    {
        if (!reportPath.EndsWith(".html", StringComparison.OrdinalIgnoreCase) && !reportPath.EndsWith(".htm", StringComparison.OrdinalIgnoreCase))
        {
            throw new UsageException($"--report names an .html file, not '{reportPath}'");
        }

        // The page carries the text results too.
        TeeWriter.Current = new TeeWriter(Console.Out);
        Console.SetOut(TeeWriter.Current);
    }

    return cli.Mode switch
    {
        "remote" => await RemoteBenchmark.RunAsync(RemoteBenchmark.Read(cli)),
        "inprocess" => await InProcessBenchmark.RunAsync(InProcessBenchmark.Read(cli)),
        "scale" => await ScaleProbe.RunAsync(ScaleProbe.Read(cli)),
        _ => throw new UsageException($"unknown mode '{cli.Mode}'; use remote, inprocess or scale"),
    };
}
catch (UsageException usage)
{
    Console.Error.WriteLine($"error: {usage.Message}");
    Console.Error.WriteLine("Run with --help for the options.");
    return 1;
}
catch (Exception exception)
{
    Console.Error.WriteLine($"benchmark failed: {exception}");
    return 2;
}
