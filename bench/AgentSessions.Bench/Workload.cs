using System.Diagnostics;

namespace AgentSessions.Bench;

/// <summary>A message as the benchmark needs it: its id and type.</summary>
public readonly record struct MessageRef(long Id, string Type);

/// <summary>What the workload does to a session, whatever serves it (HTTP, the real orchestration in process, the bare one).</summary>
public interface ISessionDriver
{
    string Name { get; }

    /// <summary>Creates a session that is already working on <c>goal</c>; answers when the session shows it.</summary>
    Task<(CallOutcome Outcome, string? Session)> CreateAsync(string goal, CancellationToken cancellationToken);

    /// <summary>Sends pause / resume / cancel / message and answers once the session acknowledged it (or the bound passed).</summary>
    Task<CallOutcome> CommandAsync(string session, string kind, string? text, CancellationToken cancellationToken);

    Task DeleteAsync(string session, CancellationToken cancellationToken);
}

/// <summary>A driver that can also read the session's messages (the real service; the bare reference has none).</summary>
public interface IMessageDriver : ISessionDriver
{
    Task<(CallOutcome Outcome, IReadOnlyList<MessageRef> Messages)> ReadMessagesAsync(string session, long afterId, CancellationToken cancellationToken);
}

/// <summary>The figures one phase collects.</summary>
public sealed class PhaseMetrics
{
    public LatencySeries Create { get; } = new();
    public LatencySeries Pause { get; } = new();
    public LatencySeries Resume { get; } = new();
    public LatencySeries Ack { get; } = new(); // pause and resume together
    public LatencySeries MessageAck { get; } = new();
    public LatencySeries FirstThought { get; } = new();
    public LatencySeries Read { get; } = new();
    public ErrorCounts Errors { get; } = new();
    public RateWindow? Commands { get; set; }
    public RateWindow? Reads { get; set; }
    public long MessagesRead;
    public long Restarts;
}

/// <summary>
/// The command pattern, the same for every driver: create N sessions on a long scripted task; each session
/// then pauses and resumes in a closed loop (the next command goes as soon as the last one was acknowledged).
/// </summary>
public static class Workload
{
    public const string Pause = "pause";
    public const string Resume = "resume";
    public const string Cancel = "cancel";
    public const string Message = "message";

    /// <summary>The gateway's poll schedule: 10 ms, ×1.5 each time, at most 200 ms.</summary>
    public static IEnumerable<TimeSpan> PollDelays()
    {
        var delay = 10.0;
        while (true)
        {
            yield return TimeSpan.FromMilliseconds(delay);
            delay = Math.Min(delay * 1.5, 200);
        }
    }

    public static string Goal(int steps, int stepDelayMs, string tag) => $"[steps={steps}] [delay={stepDelayMs}] benchmark task {tag}";

    public static async Task<List<string>> CreateSessionsAsync(
        ISessionDriver driver, int count, int parallelism, string goal, PhaseMetrics metrics, string phase)
    {
        var sessions = new List<string>(count);
        var done = 0;
        await using (Progress.Start(phase, () => $"{driver.Name}: created {Volatile.Read(ref done)}/{count}"))
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = parallelism },
                async (_, token) =>
                {
                    var started = Stopwatch.GetTimestamp();
                    (CallOutcome Outcome, string? Session) created;
                    try
                    {
                        created = await driver.CreateAsync(goal, token);
                    }
                    catch (Exception exception)
                    {
                        created = (CallOutcome.FromException(exception), null);
                    }

                    if (created is { Outcome.Ok: true, Session: { } session })
                    {
                        metrics.Create.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                        lock (sessions)
                        {
                            sessions.Add(session);
                        }
                    }
                    else
                    {
                        metrics.Errors.Add("create", created.Outcome.Code);
                    }

                    Interlocked.Increment(ref done);
                });
        }

        return sessions;
    }

    /// <summary>Closed-loop pause/resume on every session for <paramref name="length"/>; in-flight pairs finish.</summary>
    public static async Task RunCommandLoopAsync(
        ISessionDriver driver, IReadOnlyList<string> sessions, TimeSpan length, string restartGoal, PhaseMetrics metrics, string phase)
    {
        var window = new RateWindow(length);
        metrics.Commands = window;
        var lastCount = 0L;
        await using (Progress.Start(phase, () =>
        {
            var total = window.Total;
            var rate = total - lastCount;
            lastCount = total;
            var ack = metrics.Ack.Summarize();
            return $"{driver.Name}: {total} acked commands, {rate}/s now, ack p50 {ack.P50:0.0} ms p99 {ack.P99:0.0} ms, errors {metrics.Errors.Total}";
        }))
        {
            window.Start();
            await Task.WhenAll(sessions.Select(session => Task.Run(() => LoopAsync(session))));
        }

        async Task LoopAsync(string session)
        {
            while (window.IsOpen(Stopwatch.GetTimestamp()))
            {
                var paused = await TimedCommandAsync(session, Pause, metrics.Pause);
                if (paused.Code.Contains("not_running", StringComparison.Ordinal))
                {
                    // The task ended (finished, failed or hit max_steps): start another so the session stays busy.
                    Interlocked.Increment(ref metrics.Restarts);
                    await SafeCommandAsync(driver, session, Message, restartGoal, metrics, "restart");
                    continue;
                }

                // After a pause that was not acknowledged the session may or may not be paused: resume anyway.
                var resumed = await TimedCommandAsync(session, Resume, metrics.Resume);
                if (!paused.Ok || !resumed.Ok)
                {
                    await Task.Delay(100);
                }
            }
        }

        async Task<CallOutcome> TimedCommandAsync(string session, string kind, LatencySeries series)
        {
            var started = Stopwatch.GetTimestamp();
            var outcome = await SafeCommandAsync(driver, session, kind, null, metrics, kind);
            var finished = Stopwatch.GetTimestamp();
            if (outcome.Ok)
            {
                var ms = Stopwatch.GetElapsedTime(started, finished).TotalMilliseconds;
                series.Add(ms);
                metrics.Ack.Add(ms);
                window.Count(finished);
            }

            return outcome;
        }
    }

    /// <summary>
    /// Message → first THOUGHT, repeated on every session for <paramref name="length"/>: cancel the task, note the
    /// last message id, send a message (which starts a new task) and poll the messages until a THOUGHT appears.
    /// </summary>
    public static async Task RunMessageProbesAsync(
        IMessageDriver driver, IReadOnlyList<string> sessions, TimeSpan length, string goal, TimeSpan thoughtTimeout,
        PhaseMetrics metrics, string phase)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(length.TotalSeconds * Stopwatch.Frequency);
        await using (Progress.Start(phase, () =>
        {
            var thought = metrics.FirstThought.Summarize();
            return $"{driver.Name}: {thought.Count} message→THOUGHT probes, p50 {thought.P50:0.0} ms, errors {metrics.Errors.Total}";
        }))
        {
            await Task.WhenAll(sessions.Select(session => Task.Run(async () =>
            {
                do
                {
                    if (!await ProbeAsync(session))
                    {
                        await Task.Delay(100);
                    }
                }
                while (Stopwatch.GetTimestamp() < deadline);
            })));
        }

        async Task<bool> ProbeAsync(string session)
        {
            if (!(await SafeCommandAsync(driver, session, Cancel, null, metrics, "cancel")).Ok)
            {
                return false;
            }

            // After the cancel no output of the old task is accepted, so the next THOUGHT belongs to the new one.
            var (readOutcome, before) = await SafeReadAsync(driver, session, 0, metrics);
            if (!readOutcome.Ok)
            {
                return false;
            }

            var afterId = before.Count == 0 ? 0 : before[^1].Id;
            var started = Stopwatch.GetTimestamp();
            var sent = await SafeCommandAsync(driver, session, Message, goal, metrics, "message");
            if (!sent.Ok)
            {
                return false;
            }

            metrics.MessageAck.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            var giveUp = Stopwatch.GetTimestamp() + (long)(thoughtTimeout.TotalSeconds * Stopwatch.Frequency);
            foreach (var delay in PollDelays())
            {
                var (outcome, messages) = await SafeReadAsync(driver, session, afterId, metrics);
                if (outcome.Ok && messages.Any(m => m.Type == "THOUGHT"))
                {
                    metrics.FirstThought.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    return true;
                }

                if (Stopwatch.GetTimestamp() >= giveUp)
                {
                    metrics.Errors.Add("first THOUGHT", $"none within {thoughtTimeout.TotalSeconds:0} s");
                    return false;
                }

                await Task.Delay(delay);
            }

            return false;
        }
    }

    /// <summary>Every session reads its whole transcript in a closed loop for <paramref name="length"/>.</summary>
    public static async Task RunReadsAsync(IMessageDriver driver, IReadOnlyList<string> sessions, TimeSpan length, PhaseMetrics metrics, string phase)
    {
        var window = new RateWindow(length);
        metrics.Reads = window;
        await using (Progress.Start(phase, () => $"{driver.Name}: {window.Total} message reads, {Interlocked.Read(ref metrics.MessagesRead)} messages"))
        {
            window.Start();
            await Task.WhenAll(sessions.Select(session => Task.Run(async () =>
            {
                while (window.IsOpen(Stopwatch.GetTimestamp()))
                {
                    var started = Stopwatch.GetTimestamp();
                    var (outcome, messages) = await SafeReadAsync(driver, session, 0, metrics);
                    var finished = Stopwatch.GetTimestamp();
                    if (!outcome.Ok)
                    {
                        await Task.Delay(100);
                        continue;
                    }

                    metrics.Read.Add(Stopwatch.GetElapsedTime(started, finished).TotalMilliseconds);
                    if (window.IsOpen(finished))
                    {
                        Interlocked.Add(ref metrics.MessagesRead, messages.Count);
                    }

                    window.Count(finished);
                }
            })));
        }
    }

    public static async Task DeleteSessionsAsync(ISessionDriver driver, IReadOnlyList<string> sessions, int parallelism, ErrorCounts errors, string phase)
    {
        var done = 0;
        await using (Progress.Start(phase, () => $"{driver.Name}: deleted {Volatile.Read(ref done)}/{sessions.Count}"))
        {
            await Parallel.ForEachAsync(sessions, new ParallelOptions { MaxDegreeOfParallelism = parallelism }, async (session, token) =>
            {
                try
                {
                    await driver.DeleteAsync(session, token);
                }
                catch (Exception exception)
                {
                    errors.Add("delete", CallOutcome.FromException(exception).Code);
                }

                Interlocked.Increment(ref done);
            });
        }
    }

    private static async Task<CallOutcome> SafeCommandAsync(
        ISessionDriver driver, string session, string kind, string? text, PhaseMetrics metrics, string operation)
    {
        CallOutcome outcome;
        try
        {
            outcome = await driver.CommandAsync(session, kind, text, CancellationToken.None);
        }
        catch (Exception exception)
        {
            outcome = CallOutcome.FromException(exception);
        }

        if (!outcome.Ok)
        {
            metrics.Errors.Add(operation, outcome.Code);
        }

        return outcome;
    }

    private static async Task<(CallOutcome Outcome, IReadOnlyList<MessageRef> Messages)> SafeReadAsync(
        IMessageDriver driver, string session, long afterId, PhaseMetrics metrics)
    {
        (CallOutcome Outcome, IReadOnlyList<MessageRef> Messages) read;
        try
        {
            read = await driver.ReadMessagesAsync(session, afterId, CancellationToken.None);
        }
        catch (Exception exception)
        {
            read = (CallOutcome.FromException(exception), []);
        }

        if (!read.Outcome.Ok)
        {
            metrics.Errors.Add("read messages", read.Outcome.Code);
        }

        return read;
    }
}
