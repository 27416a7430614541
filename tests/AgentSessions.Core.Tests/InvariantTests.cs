using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;

namespace AgentSessions.Core.Tests;

/// <summary>
/// Long seeded random runs that behave like a real orchestration: steps the decider starts are
/// reported back later (sometimes after a cancel or expiry, sometimes twice), users send messages,
/// pause, resume and cancel in any order. Every decision is checked against the contract's invariants.
/// </summary>
public class InvariantTests
{
    private const int Commands = 2000;

    private static readonly SessionStatus[] SixStatuses =
    [
        SessionStatus.Ready, SessionStatus.Running, SessionStatus.WaitingForInput,
        SessionStatus.Paused, SessionStatus.Finished, SessionStatus.Error,
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(42)]
    [InlineData(2024)]
    [InlineData(31337)]
    public void GivenSeededRandomCommands_WhenDecided_ThenEveryInvariantHolds(int seed)
    {
        var random = new Random(seed);
        var driver = SessionDriver.Ready(maxSteps: 5);
        var run = new RunObserver();
        run.Observe(driver.State);

        for (var i = 0; i < Commands; i++)
        {
            var before = driver.State;
            var command = run.Next(random, before);
            var decision = driver.Apply(command);
            run.Check(before, command, decision, driver.Now, $"seed {seed}, command #{i} {command}");
        }

        var end = driver.Delete();
        Assert.IsType<EndSession>(Assert.Single(end.Effects));

        // The run must have exercised the interesting parts of the machine, or it proves nothing.
        Assert.Superset(
            new HashSet<SessionStatus>(SixStatuses.Where(s => s != SessionStatus.Ready)), run.VisibleSeen);
        Assert.Superset(
            new HashSet<string> { RejectionCodes.AlreadyPaused, RejectionCodes.NotPaused, RejectionCodes.NotRunning },
            run.RejectionsSeen);
        Assert.True(run.IgnoredCount > 0, "no command was ignored");
        Assert.True(run.StepsStarted > 100, $"only {run.StepsStarted} steps started");
        Assert.True(run.MaxStepsHits > 0, "max_steps was never reached");
        Assert.True(run.DeliveredAfterPause > 0, "no message held during a pause was delivered");
        Assert.Equal(driver.State.LastMessageId, run.MessageCount);
    }

    private sealed class RunObserver
    {
        private readonly List<StepRequest> outstanding = [];
        private readonly List<(int Task, int Step)> reported = [];
        private readonly Dictionary<int, int> lastStepOfTask = [];
        private readonly HashSet<string> delivered = [];
        private readonly HashSet<string> sentWhilePaused = [];
        private int lastDeliveredIndex = -1;
        private int nextText;
        private int highestTask;

        public HashSet<SessionStatus> VisibleSeen { get; } = [];

        public HashSet<string> RejectionsSeen { get; } = [];

        public int IgnoredCount { get; private set; }

        public int StepsStarted { get; private set; }

        public int MaxStepsHits { get; private set; }

        public int DeliveredAfterPause { get; private set; }

        public long MessageCount { get; private set; }

        public void Observe(SessionState state) => VisibleSeen.Add(state.VisibleStatus);

        public SessionCommand Next(Random random, SessionState state)
        {
            var roll = random.Next(100);
            switch (roll)
            {
                case < 22:
                    var text = $"m{nextText++}";
                    if (state.Paused)
                    {
                        sentWhilePaused.Add(text);
                    }

                    return new SendMessage(text);
                case < 32:
                    return new PauseSession();
                case < 42:
                    return new ResumeSession();
                case < 48:
                    return new CancelTask();
                case < 51:
                    return new ExpireSession(TimeSpan.FromMinutes(random.Next(1, 120)));
                case < 80 when outstanding.Count > 0:
                    // Usually the newest step (the live one); sometimes an abandoned one.
                    var index = random.Next(4) == 0 ? random.Next(outstanding.Count) : outstanding.Count - 1;
                    var request = outstanding[index];
                    outstanding.RemoveAt(index);
                    reported.Add((request.TaskNumber, request.StepNumber));
                    return random.Next(20) == 0
                        ? new FailStep(request.TaskNumber, request.StepNumber, "agent unreachable")
                        : SessionDriver.Step(request.TaskNumber, request.StepNumber, RandomStatus(random), RandomMessages(random));
                case < 88 when reported.Count > 0:
                    // A duplicate delivery of a step that was already reported.
                    var (task, step) = reported[random.Next(reported.Count)];
                    return SessionDriver.Step(task, step, RandomStatus(random), RandomMessages(random));
                default:
                    // Garbage: a (task, step) pair that may or may not exist.
                    return SessionDriver.Step(random.Next(0, highestTask + 2), random.Next(0, 7), RandomStatus(random), RandomMessages(random));
            }
        }

        public void Check(SessionState before, SessionCommand command, SessionDecision decision, DateTimeOffset now, string where)
        {
            var after = decision.State;
            Observe(after);

            // Visible status is always one of the six, and "paused" exists only as the overlay.
            Assert.True(Enum.IsDefined(after.VisibleStatus), where);
            Assert.Contains(after.VisibleStatus, SixStatuses);
            Assert.NotEqual(SessionStatus.Paused, after.Status);
            Assert.Equal(after.Paused, after.VisibleStatus == SessionStatus.Paused);
            _ = after.VisibleStatus.ToWire();

            // The state stays coherent.
            Assert.Equal(after.Task is not null, after.Status is SessionStatus.Running or SessionStatus.WaitingForInput);
            if (after.Status == SessionStatus.WaitingForInput)
            {
                Assert.Null(after.Task!.StepInFlight);
            }

            if (!after.Held.IsEmpty)
            {
                Assert.True(after.Paused, where);
            }

            // Rejected and ignored commands change nothing and do nothing.
            switch (decision.Outcome)
            {
                case RejectedOutcome rejected:
                    RejectionsSeen.Add(rejected.Code);
                    decision.AssertNoChange(before);
                    break;
                case IgnoredOutcome:
                    IgnoredCount++;
                    decision.AssertNoChange(before);
                    break;
                default:
                    Assert.IsType<AcceptedOutcome>(decision.Outcome);
                    if (command is not ExpireSession)
                    {
                        Assert.Equal(now, after.LastActivityAt);
                        Assert.False(after.Dormant, where);
                    }

                    break;
            }

            // Effects: at most one AppendMessages, first; at most one StartStep.
            var appends = decision.Effects.OfType<AppendMessages>().ToList();
            Assert.True(appends.Count <= 1, where);
            if (appends.Count == 1)
            {
                Assert.Same(appends[0], decision.Effects[0]);
                Assert.NotEmpty(appends[0].Messages);
            }

            // Message ids: strictly increasing by one from the previous decision, no gaps, no reuse.
            var expectedId = before.LastMessageId;
            foreach (var message in decision.Messages())
            {
                Assert.Equal(++expectedId, message.Id);
                Assert.Equal(now, message.Timestamp);
                Assert.Contains(message.Type, (string[])[.. MessageTypes.FromAgent, MessageTypes.User]);
                if (message.Type == MessageTypes.Error && message.MetadataValue("reason") == "max_steps")
                {
                    MaxStepsHits++;
                }
            }

            Assert.Equal(expectedId, after.LastMessageId);
            MessageCount = after.LastMessageId;

            var starts = decision.StartedSteps();
            Assert.True(starts.Count <= 1, where);
            if (command is PauseSession or SendMessage or CompleteStep or FailStep && before.Paused)
            {
                Assert.True(after.Paused, where);
            }

            foreach (var request in starts)
            {
                CheckStart(before, command, after, request, where);
            }
        }

        private void CheckStart(SessionState before, SessionCommand command, SessionState after, StepRequest request, string where)
        {
            // Never while paused; never while another step of the live task is in flight.
            Assert.False(after.Paused, where);
            Assert.False(after.Deleted, where);
            Assert.Equal(SessionStatus.Running, after.VisibleStatus);
            var liveStepResolved = before.Task?.StepInFlight is not { } live
                || (command is CompleteStep c && c.TaskNumber == before.Task.Number && c.StepNumber == live)
                || (command is FailStep f && f.TaskNumber == before.Task.Number && f.StepNumber == live);
            Assert.True(liveStepResolved, $"{where}: step started while step {before.Task?.StepInFlight} is in flight");

            // Step numbering: task numbers only go up, steps within a task count up from 1 with no gaps.
            Assert.Equal(after.TaskCount, request.TaskNumber);
            Assert.Equal(after.Task!.Number, request.TaskNumber);
            Assert.Equal(after.Task.StepInFlight, request.StepNumber);
            Assert.Equal(after.Task.StepsStarted, request.StepNumber);
            Assert.InRange(request.StepNumber, 1, after.MaxSteps);
            if (request.StepNumber == 1)
            {
                // A task can end before its first step (started underneath a pause, then cancelled),
                // so numbers may skip, but they only ever go up.
                Assert.True(request.TaskNumber > highestTask, $"{where}: task {request.TaskNumber} after {highestTask}");
                highestTask = request.TaskNumber;
            }
            else
            {
                Assert.Equal(lastStepOfTask[request.TaskNumber] + 1, request.StepNumber);
            }

            lastStepOfTask[request.TaskNumber] = request.StepNumber;
            outstanding.Add(request);
            StepsStarted++;

            // User messages reach the agent at most once, and in the order they were sent.
            var deliveredNow = request.StepNumber == 1 ? request.NewUserMessages.Prepend(request.Task) : request.NewUserMessages;
            foreach (var text in deliveredNow)
            {
                Assert.True(delivered.Add(text), $"{where}: {text} delivered twice");
                var index = int.Parse(text.AsSpan(1), System.Globalization.CultureInfo.InvariantCulture);
                Assert.True(index > lastDeliveredIndex, $"{where}: {text} delivered after m{lastDeliveredIndex}");
                lastDeliveredIndex = index;
                if (sentWhilePaused.Contains(text))
                {
                    DeliveredAfterPause++;
                }
            }
        }

        private static AgentStepStatus RandomStatus(Random random) => random.Next(100) switch
        {
            < 55 => AgentStepStatus.Running,
            < 75 => AgentStepStatus.WaitingForInput,
            < 90 => AgentStepStatus.Finished,
            _ => AgentStepStatus.Error,
        };

        private static AgentMessage[] RandomMessages(Random random)
        {
            var pool = new[]
            {
                SessionDriver.Thought("thinking"), SessionDriver.Question("which?"), SessionDriver.Done("done"),
                SessionDriver.Error("failed"), new AgentMessage(MessageTypes.Log, System.Text.Json.JsonSerializer.SerializeToElement("log")),
            };
            return [.. Enumerable.Range(0, random.Next(4)).Select(_ => pool[random.Next(pool.Length)])];
        }
    }

    [Fact]
    public void GivenPausedSession_WhenAnythingButResumeCancelOrExpiryHappens_ThenNoStepEverStarts()
    {
        var driver = SessionDriver.PausedFromRunning();
        var commands = new SessionCommand[]
        {
            new SendMessage("a"),
            SessionDriver.Step(1, 1, AgentStepStatus.Running),
            new SendMessage("b"),
            new PauseSession(),
            SessionDriver.Step(1, 2, AgentStepStatus.Running),
            new SendMessage("c"),
        };

        foreach (var command in commands)
        {
            var decision = driver.Apply(command);
            Assert.Empty(decision.StartedSteps());
            Assert.Equal(SessionStatus.Paused, decision.State.VisibleStatus);
        }

        Assert.Equal(["a", "b", "c"], driver.Resume().SingleStartedStep().NewUserMessages);
    }
}
