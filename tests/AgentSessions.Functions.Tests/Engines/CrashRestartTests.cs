using System.Collections.Concurrent;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Infrastructure;
using Xunit.Abstractions;

namespace AgentSessions.Functions.Tests.Engines;

/// <summary>
/// The Azure Storage engine with its workers in processes of their own, killed (SIGKILL) in the middle of an agent
/// step and of a stream of commands: what a deploy, a scale-in or an out-of-memory kill does to the app.
/// </summary>
[Collection(ProcessesCollection.Name)]
public sealed class CrashRestartTests(AzureStorageFixture azurite, ITestOutputHelper output)
{
    /// <summary>Far below the 5 minutes a step's work item stays invisible after its worker died.</summary>
    private static readonly TimeSpan StallBound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task HostKilledMidStepAndMidCommands_ReplacementAppliesEveryCommandOnce_RunsTheStepAgain_AndTheTaskFinishes()
    {
        await using var rig = new CrashRig(azurite);
        var first = await rig.StartHostAsync("worker-a");
        var gateway = await rig.ClientAsync();
        var id = await rig.CreateAsync(gateway, "[steps=14] [delay=1500] crash test");
        await Eventually.ValueAsync(() => rig.MessagesAsync(id), ms => ms.Any(m => m.Type == MessageTypes.Thought), StallBound, "the first step");

        await using var commands = CommandStream.Start(gateway, id);
        await commands.WaitForAnsweredAsync(count: 3, StallBound);
        // Killed while it runs an activity (mostly the 1.5-s step), so that work item stays hidden after the kill.
        await Eventually.ValueAsync(rig.ActivityHeldAsync, held => held, StallBound, "the host running an activity");
        await first.KillAsync();
        var killedAt = DateTimeOffset.UtcNow;
        var stepsBeforeKill = StepsDone(await rig.MessagesAsync(id), before: killedAt);

        var replacement = await rig.StartHostAsync("worker-b");
        await commands.WaitForAnsweredAsync(count: commands.Answered.Count + 3, StallBound * 2);
        var sent = await commands.StopAsync();

        // Every command is applied in the end: those answered 200 at once, those answered 202 once the messages
        // the killed worker had taken come back.
        var messages = await Eventually.ValueAsync(() => rig.MessagesAsync(id),
            ms => sent.All(s => ms.Any(m => m.Type == MessageTypes.User && m.Content.GetString() == s.Text)), StallBound, "every command applied");
        await Eventually.ValueAsync(() => gateway.GetAsync(CrashRig.Owner, id, default), v => v.Status == "finished", StallBound * 2, "the task to finish");
        messages = await rig.MessagesAsync(id);

        Assert.Equal(Enumerable.Range(1, messages.Count).Select(i => (long)i), messages.Select(m => m.Id));
        foreach (var command in sent)
        {
            Assert.Single(messages, m => m.Type == MessageTypes.User && m.Content.GetString() == command.Text);
        }

        // In the order they were sent, 202s included: a later command never overtakes one a dead worker had taken.
        Assert.Equal(sent.Select(s => s.Text), messages.Where(m => m.Type == MessageTypes.User).Skip(1).Select(m => m.Content.GetString()));
        Assert.Single(messages, m => m.Type == MessageTypes.Done);
        var steps = messages.Where(m => m.Type == MessageTypes.Thought).Select(Step).ToList();
        Assert.Equal(Enumerable.Range(1, 14), steps);

        // The step in flight when the worker died ran again on the replacement, bounded by host.json's work-item
        // visibility timeout (20 s, renewed while a step runs) and the partition lease, not by the default five minutes.
        var rerun = messages.First(m => m.Type == MessageTypes.Thought && Step(m) == stepsBeforeKill + 1);
        var stall = rerun.Timestamp - replacement.ReadyAt;
        output.WriteLine($"step {stepsBeforeKill + 1} was in flight at the kill; it ran again {stall.TotalSeconds:0.0} s after the replacement was up " +
            $"({(rerun.Timestamp - killedAt).TotalSeconds:0.0} s after the kill); {sent.Count} commands, {sent.Count(s => s.Pending)} answered 202");
        Assert.InRange(stall, TimeSpan.Zero, StallBound);
    }

    // It used to fail in two runs of three here: sessions (on the survivor's partitions and on the ones it took over)
    // then applied no command for over two minutes, while their deadline timers kept firing. Each step raced a
    // durable deadline timer and a dead host's activities stayed hidden for the queue's five minutes; removing either
    // (no timer per step, or host.json's 20 s work-item visibility) made it pass in 7 runs of 7; both are in.
    [Fact]
    public async Task TwoHostsOnOneTaskHub_OneKilled_TheOtherTakesOverItsPartitions_NothingLostOrAppliedTwice()
    {
        await using var rig = new CrashRig(azurite);
        var doomed = await rig.StartHostAsync("worker-a");
        var survivor = await rig.StartHostAsync("worker-b");
        // The provider balances the four partitions between the two hosts, one at a time: wait until it is done, two
        // each, so what follows is the kill and its takeover, not a rebalancing still under way.
        await Eventually.ValueAsync(rig.PartitionOwnersAsync, owners => owners.Count(o => o == "worker-a") == 2 && owners.Count(o => o == "worker-b") == 2,
            StallBound * 2, "both hosts to own two partitions each");
        var clients = new[] { await rig.ClientAsync(), await rig.ClientAsync() };
        // Enough sessions that both hosts own some of the four partitions' instances.
        var ids = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            ids.Add(await rig.CreateAsync(clients[i % 2], "[steps=1000] [delay=500] scale-out"));
        }

        await using var streams = new StreamGroup(ids.Select((id, i) => PauseResumeStream.Start(clients, id, offset: i)).ToList());
        await streams.WaitForEachAsync(answered: 4, StallBound);
        var owned = (await rig.PartitionOwnersAsync()).Count(o => o == "worker-a");
        await doomed.KillAsync();
        var killedAt = DateTimeOffset.UtcNow;

        // Each session has a command applied after the kill: the survivor owns every partition by then.
        IReadOnlyList<TimeSpan> takeover;
        try
        {
            takeover = await streams.WaitForEachAppliedAfterAsync(killedAt, StallBound * 2);
        }
        catch (TimeoutException timeout)
        {
            var states = new List<string>();
            foreach (var sid in ids)
            {
                var m = await rig.InstanceAsync(sid);
                states.Add($"{sid}: {m?.RuntimeStatus} updated {m?.LastUpdatedAt:HH:mm:ss.fff}; " + await rig.DescribeStorageAsync(sid));
            }

            throw new TimeoutException($"{timeout.Message}; partitions: {string.Join(", ", await rig.PartitionOwnersAsync())}\n" +
                string.Join("\n", states) + "\n" +
                string.Join("\n", Enumerable.Range(0, ids.Count).Select(i => $"session {i}:\n" + streams.LogOf(i).Split('\n').TakeLast(3).Aggregate("", (a, b) => a + b + "\n"))) +
                $"\nsurvivor:\n{survivor.Output}", timeout);
        }

        var sent = await streams.StopAsync();
        output.WriteLine($"takeover of the killed host's {owned} of 4 partitions: every session had a command applied " +
            $"{takeover.Max().TotalSeconds:0.0} s after the kill at the latest; per session: " +
            string.Join(", ", takeover.Select(t => $"{t.TotalSeconds:0.0}")) + $" s; {sent.Sum()} commands in all");
        Assert.All(await rig.PartitionOwnersAsync(), owner => Assert.Equal("worker-b", owner));

        // Alternating pause and resume applied exactly once each, in order, leaves no rejection; a command lost or
        // applied twice would show as one (already_paused or not_paused). The goal was the first command.
        for (var i = 0; i < ids.Count; i++)
        {
            var expected = sent[i] + 1;
            SessionView view;
            try
            {
                view = await Eventually.ValueAsync(() => clients[0].GetAsync(CrashRig.Owner, ids[i], default),
                    v => v.Counts!.Applied >= expected, StallBound, $"session {i}'s commands applied");
            }
            catch (TimeoutException timeout)
            {
                throw new TimeoutException($"{timeout.Message}; expected {expected}\n{await rig.DescribeStorageAsync(ids[i])}\n{streams.LogOf(i)}\nsurvivor:\n{survivor.Output}", timeout);
            }

            Assert.Equal(expected, view.Counts!.Applied);
            Assert.True(view.Counts.Rejected == 0, $"session {i}: {view.Counts.Rejected} rejected; killed at {killedAt:HH:mm:ss.fff}\n{streams.LogOf(i)}\napplied: " +
                string.Join(" ", view.Results.Select(r => r.Answer + "/" + r.Status)) + "\nsurvivor:\n" + survivor.Output);
            Assert.Equal(sent[i] % 2 == 1 ? "paused" : "running", view.Status);
        }

        Assert.InRange(takeover.Max(), TimeSpan.Zero, StallBound * 2);
        GC.KeepAlive(survivor);
    }

    [Fact]
    public async Task LanguageWorkerKilledMidStep_HostDispatchesItsWorkToTheNextWorker_AtOnce_NothingLost()
    {
        await using var rig = new CrashRig(azurite);
        var host = await rig.HostForExternalWorkerAsync();
        var first = await rig.StartLanguageWorkerAsync("language-worker-1", host.Address);
        var gateway = rig.Gateway(host);
        var id = await rig.CreateAsync(gateway, "[steps=8] [delay=1500] worker crash");
        await Eventually.ValueAsync(() => rig.MessagesAsync(id), ms => ms.Any(m => m.Type == MessageTypes.Thought), StallBound, "the first step");

        await using var commands = CommandStream.Start(gateway, id);
        await commands.WaitForAnsweredAsync(count: 2, StallBound);
        await first.KillAsync();
        var stepsBeforeKill = StepsDone(await rig.MessagesAsync(id), before: DateTimeOffset.UtcNow);
        var second = await rig.StartLanguageWorkerAsync("language-worker-2", host.Address);
        await commands.WaitForAnsweredAsync(count: commands.Answered.Count + 2, StallBound);
        var sent = await commands.StopAsync();

        await Eventually.ValueAsync(() => gateway.GetAsync(CrashRig.Owner, id, default), v => v.Status == "finished", StallBound, "the task to finish");
        var messages = await rig.MessagesAsync(id);
        Assert.Equal(Enumerable.Range(1, messages.Count).Select(i => (long)i), messages.Select(m => m.Id));
        foreach (var command in sent)
        {
            Assert.Single(messages, m => m.Type == MessageTypes.User && m.Content.GetString() == command.Text);
        }

        Assert.Equal(Enumerable.Range(1, 8), messages.Where(m => m.Type == MessageTypes.Thought).Select(Step));
        var next = messages.First(m => m.Type == MessageTypes.Thought && Step(m) == stepsBeforeKill + 1);
        var stall = next.Timestamp - second.ReadyAt;
        output.WriteLine($"the step in flight finished {stall.TotalSeconds:0.0} s after the new language worker was up (a step takes 1.5 s)");
        // The host hands the abandoned work items to the new worker at once: the step only has to run again.
        Assert.InRange(stall, TimeSpan.Zero, TimeSpan.FromSeconds(10));
    }

    private static int Step(SessionMessage message) => message.Metadata.GetProperty("step").GetInt32();

    private static int StepsDone(IReadOnlyList<SessionMessage> messages, DateTimeOffset before) =>
        messages.Where(m => m.Type == MessageTypes.Thought && m.Timestamp < before).Select(Step).DefaultIfEmpty(0).Max();

    /// <summary>Messages sent one after another, each waiting for its answer, until stopped.</summary>
    private sealed class CommandStream : IAsyncDisposable
    {
        private readonly CancellationTokenSource stop = new();
        private readonly Task loop;

        private CommandStream(SessionGateway gateway, string sessionId)
        {
            loop = Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    var text = $"note {i}";
                    var ack = await gateway.SendAsync(CrashRig.Owner, sessionId, CommandEnvelope.Message, text, null, default);
                    Answered.Enqueue(new Sent(text, ack.Pending));
                    await Task.Delay(200);
                }
            });
        }

        public ConcurrentQueue<Sent> Answered { get; } = new();

        public static CommandStream Start(SessionGateway gateway, string sessionId) => new(gateway, sessionId);

        public async Task WaitForAnsweredAsync(int count, TimeSpan within)
        {
            await Eventually.ValueAsync(() => Task.FromResult(Answered.Count), n => n >= count || loop.IsFaulted, within, $"{count} answered commands");
            if (loop.IsFaulted)
            {
                await loop; // the command that failed, as the test's failure
            }
        }

        public async Task<IReadOnlyList<Sent>> StopAsync()
        {
            stop.Cancel();
            await loop;
            return [.. Answered];
        }

        public async ValueTask DisposeAsync()
        {
            stop.Cancel();
            try
            {
                await loop;
            }
            catch (Exception)
            {
                // Already reported by the test, or the test failed before.
            }
        }
    }

    private sealed record Sent(string Text, bool Pending);

    /// <summary>Pause, resume, pause, … for one session, each through the next client in turn, each waiting for its answer.</summary>
    private sealed class PauseResumeStream
    {
        private readonly CancellationTokenSource stop = new();

        private PauseResumeStream(SessionGateway[] clients, string sessionId, int offset)
        {
            Loop = Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    var kind = i % 2 == 0 ? CommandEnvelope.Pause : CommandEnvelope.Resume;
                    var ack = await clients[(i + offset) % clients.Length].SendAsync(CrashRig.Owner, sessionId, kind, null, null, default);
                    Answers.Enqueue((DateTimeOffset.UtcNow, ack.Pending));
                    Log.Enqueue($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} {kind} client {(i + offset) % clients.Length} -> {(ack.Pending ? "202" : ack.Result!.Outcome + " " + ack.Result.Code + " " + ack.Result.Status)}");
                    await Task.Delay(100);
                }
            });
        }

        public Task Loop { get; }

        public ConcurrentQueue<(DateTimeOffset At, bool Pending)> Answers { get; } = new();

        public ConcurrentQueue<string> Log { get; } = new();

        public static PauseResumeStream Start(SessionGateway[] clients, string sessionId, int offset) => new(clients, sessionId, offset);

        public async Task<int> StopAsync()
        {
            stop.Cancel();
            await Loop;
            return Answers.Count;
        }
    }

    private sealed class StreamGroup(IReadOnlyList<PauseResumeStream> streams) : IAsyncDisposable
    {
        public string LogOf(int session) => string.Join("\n", streams[session].Log);

        public Task WaitForEachAsync(int answered, TimeSpan within) =>
            Eventually.ValueAsync(() => Task.FromResult(streams.Min(s => s.Answers.Count)), n => n >= answered || streams.Any(s => s.Loop.IsFaulted),
                within, $"{answered} answers on every session");

        /// <summary>Per session, how long after <paramref name="since"/> its first command was answered as applied (200).</summary>
        public async Task<IReadOnlyList<TimeSpan>> WaitForEachAppliedAfterAsync(DateTimeOffset since, TimeSpan within)
        {
            await Eventually.ValueAsync(() => Task.FromResult(streams.All(s => s.Answers.Any(a => a.At > since && !a.Pending))),
                done => done || streams.Any(s => s.Loop.IsFaulted), within, "a command applied after the kill on every session");
            return [.. streams.Select(s => s.Answers.First(a => a.At > since && !a.Pending).At - since)];
        }

        public async Task<IReadOnlyList<int>> StopAsync()
        {
            var counts = new List<int>();
            foreach (var stream in streams)
            {
                counts.Add(await stream.StopAsync());
            }

            return counts;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var stream in streams)
            {
                try
                {
                    await stream.StopAsync();
                }
                catch (Exception)
                {
                    // Reported by the test already.
                }
            }
        }
    }
}
