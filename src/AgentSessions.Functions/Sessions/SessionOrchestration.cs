using System.Collections.Immutable;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Webhooks;
using Microsoft.DurableTask;

namespace AgentSessions.Functions.Sessions;

/// <summary>
/// One session, one orchestration: a deterministic shell that feeds commands, step results and
/// the idle timer into <see cref="SessionDecider"/> and carries out the effects it returns.
/// </summary>
public static class SessionOrchestration
{
    public const string Name = "SessionOrchestration";
    public const string CommandEvent = "command";

    /// <summary>More than any burst the API could deliver between two episodes.</summary>
    private const int MaxDrainedCommands = 100_000;

    /// <summary>
    /// How long a command id is remembered after it was applied. The backend delivers events at least once: a message
    /// taken by a worker that died after recording it comes back when the queue's visibility timeout (5 min) ends, or
    /// sooner when a partition moves. Twice that covers both.
    /// </summary>
    public static readonly TimeSpan RedeliveryWindow = TimeSpan.FromMinutes(10);

    /// <summary>At most this many remembered command ids cross a ContinueAsNew, newest first.</summary>
    public const int MaxRememberedCommands = 1000;

    /// <summary>
    /// A step that keeps running while commands arrive delays ContinueAsNew; past this many times the generation's
    /// size the generation ends anyway and the step is run again in the next, so history stays bounded.
    /// </summary>
    public const int HardGenerationFactor = 3;

    /// <summary>
    /// Storing messages is retried for about ten minutes (a storage outage): the decision that numbered them has been
    /// made, so giving up would leave a gap in the ids. Only after that the orchestration fails, and the session
    /// restarts from what was stored (<see cref="RecoverSession"/>) on its next message.
    /// </summary>
    private static readonly TaskOptions StoreRetry = TaskOptions.FromRetryPolicy(new RetryPolicy(
        maxNumberOfAttempts: 15, firstRetryInterval: TimeSpan.FromMilliseconds(500), backoffCoefficient: 2,
        maxRetryInterval: TimeSpan.FromSeconds(60)));

    public static async Task<SessionStatusSnapshot> RunAsync(TaskOrchestrationContext context, SessionInput input)
    {
        var loop = new Loop(context, input);
        return await loop.RunAsync();
    }

    private sealed class Loop(TaskOrchestrationContext context, SessionInput input)
    {
        private readonly Queue<CommandEnvelope> pending = new(input.Pending);
        private readonly Dictionary<Task<StepOutcome>, StepRequest> steps = [];
        private readonly CancellationTokenSource timerCancellation = new();
        private readonly StepRunPolicy stepPolicy = StepRunPolicy.For(
            input.LoopVersion >= SessionInput.UntimedStepsLoopVersion ? null : input.Settings.StepDeadline);
        private readonly Dictionary<string, DateTime> seen = (input.Seen ?? []).ToDictionary(s => s.Id, s => s.At, StringComparer.Ordinal);
        private SessionState state = input.State;
        private ImmutableList<CommandResult> results = input.Results;
        private CommandCounts counts = input.Counts ?? CommandCounts.Zero;

        // Kept across iterations on purpose: a waiter that loses a WhenAny and is then dropped would
        // still receive (and swallow) the next event, so there is only ever one, reused until it fires.
        private Task<CommandEnvelope>? commandWait;
        private Task? idleTimer;
        private int applied;

        // Generations started by this version apply already-arrived commands together; one started before replays as
        // it ran (one append per decision), so a deploy never changes the actions of a history being replayed.
        private readonly bool batching = input.LoopVersion >= SessionInput.BatchingLoopVersion;

        // Generations from this version leave as few timers as they can pending at a ContinueAsNew (see the version).
        private readonly bool untimedSteps = input.LoopVersion >= SessionInput.UntimedStepsLoopVersion;

        public async Task<SessionStatusSnapshot> RunAsync()
        {
            // Steps carried over ContinueAsNew start first: the state already counts them as in flight.
            foreach (var step in input.Steps ?? [])
            {
                Start(step);
            }

            // With commands queued (a create's goal, or commands carried over ContinueAsNew) the
            // first publish waits until they are applied: publishing the input's state first would
            // show a status the session has already left, e.g. "ready" for a session with a goal.
            // Until then readers predict the view from the input with the same rules.
            if (pending.Count == 0)
            {
                Publish();
            }

            if (input.Generation == 0)
            {
                Notify([SessionNotices.ForCreated(state)]);
            }

            while (true)
            {
                var (command, commandId) = await NextAsync();

                // Commands that have already arrived (buffered while the last append ran, a burst of messages) are
                // applied in this same pass: one append for all their messages and one publish, instead of an
                // episode and an activity each. Order is unchanged: they are decided one after another.
                var batch = new Batch();
                while (true)
                {
                    var ended = Apply(command, commandId, batch);
                    if (ended || batch.ContinueAsNew || !batching || !batch.HasRoom || !TryTakeArrived(out var next))
                    {
                        break;
                    }

                    (command, commandId) = next;
                }

                // Messages are stored before the status that refers to them is published, so a
                // client that sees "finished" can always read the DONE message.
                foreach (var messages in batch.Stores(together: batching))
                {
                    await context.CallActivityAsync(AppendMessagesActivity.Name, new AppendMessagesInput(context.InstanceId, [.. messages]), StoreRetry);
                }

                if (batch.Changed)
                {
                    Publish();
                }

                foreach (var notices in batch.Notices)
                {
                    Notify(notices);
                }

                if (batch.Ended)
                {
                    timerCancellation.Cancel();
                    return Snapshot();
                }

                if (batch.ContinueAsNew)
                {
                    // A step the decisions just asked for starts in the next generation instead; one still running is
                    // run again there (its result could not reach the next generation).
                    timerCancellation.Cancel();
                    context.ContinueAsNew(NextGeneration([.. WantedStepsInFlight(), .. batch.Started.Where(IsWanted)]),
                        preserveUnprocessedEvents: true);
                    return Snapshot();
                }

                // A step asked for early in the batch may have been cancelled by a later command in it.
                foreach (var request in batch.Started.Where(IsWanted))
                {
                    Start(request);
                }
            }
        }

        /// <summary>Decides one input into the batch; true when the session ended.</summary>
        private bool Apply(SessionCommand? command, string? commandId, Batch batch)
        {
            if (command is null)
            {
                if (commandId is not null && !seen.ContainsKey(commandId))
                {
                    // A command of a kind this version does not know: answered, and nothing else.
                    Record(commandId, new IgnoredOutcome());
                    batch.Changed = true;
                }

                return false;
            }

            if (commandId is not null && seen.ContainsKey(commandId))
            {
                // The same event delivered again: it was applied once already, and its outcome published.
                return false;
            }

            var before = state;
            var decision = SessionDecider.Decide(state, command, context.CurrentUtcDateTime);
            state = decision.State;
            if (commandId is not null)
            {
                Record(commandId, decision.Outcome);
            }

            batch.Changed = true;
            foreach (var append in decision.Effects.OfType<AppendMessages>())
            {
                batch.Add(append.Messages);
            }

            batch.Notices.Add(SessionNotices.Between(before, decision));
            if (decision.Effects.OfType<EndSession>().Any())
            {
                batch.Ended = true;
                return true;
            }

            batch.Started.AddRange(decision.Effects.OfType<StartStep>().Select(s => s.Request));
            applied++;
            batch.ContinueAsNew = ShouldContinueAsNew();
            return false;
        }

        /// <summary>
        /// A command that is already here, without waiting: queued in the input, or an event the runtime has buffered
        /// (its waiter completes at once). Deterministic on replay: the runtime hands events over in the same order.
        /// </summary>
        private bool TryTakeArrived(out (SessionCommand? Command, string? CommandId) next)
        {
            if (pending.TryDequeue(out var queued))
            {
                next = Decode(queued);
                return true;
            }

            commandWait ??= context.WaitForExternalEvent<CommandEnvelope>(CommandEvent);
            if (commandWait.IsCompleted)
            {
                next = TakeCommandEvent();
                return true;
            }

            next = default;
            return false;
        }

        /// <summary>The command the completed event waiter holds; the next wait starts a new waiter.</summary>
        private (SessionCommand? Command, string? CommandId) TakeCommandEvent()
        {
            var envelope = commandWait!.Result;
            commandWait = null;
            return Decode(envelope);
        }

        private static (SessionCommand? Command, string? CommandId) Decode(CommandEnvelope envelope) => (envelope.ToCommandOrNull(), envelope.Id);

        private bool IsWanted(StepRequest request) =>
            state.Task is { } task && task.Number == request.TaskNumber && task.StepInFlight == request.StepNumber;

        /// <summary>What one pass of the loop has decided and not yet done.</summary>
        private sealed class Batch
        {
            /// <summary>Enough to drain a burst in a few passes; keeps one append's input small.</summary>
            private const int MaxCommands = 50;
            private const int MaxMessageChars = 256 * 1024;

            private long chars;

            /// <summary>The messages each decision asked to store, in order.</summary>
            public List<IReadOnlyList<SessionMessage>> Appends { get; } = [];

            /// <summary>One entry per decided command, so also how many the batch holds.</summary>
            public List<IReadOnlyList<SessionNotice>> Notices { get; } = [];

            public List<StepRequest> Started { get; } = [];

            public bool Changed { get; set; }

            public bool Ended { get; set; }

            public bool ContinueAsNew { get; set; }

            public bool HasRoom => Notices.Count < MaxCommands && chars < MaxMessageChars;

            /// <summary>What to store, append by append: all together, or (generations from before batching, replaying
            /// as they ran) one append per decision.</summary>
            public IEnumerable<IReadOnlyList<SessionMessage>> Stores(bool together)
            {
                if (!together)
                {
                    return Appends;
                }

                return Appends.Count == 0 ? [] : [Appends.SelectMany(a => a).ToList()];
            }

            public void Add(IReadOnlyList<SessionMessage> messages)
            {
                Appends.Add(messages);
                chars += messages.Sum(m => (long)m.Content.GetRawText().Length);
            }
        }

        /// <summary>
        /// After a generation's worth of commands and steps, at a moment no step the session waits for is running (a
        /// step that was cancelled and is still running does not count) — or, when a step keeps running, later anyway.
        /// </summary>
        private bool ShouldContinueAsNew()
        {
            var size = input.Settings.CommandsPerGeneration;
            return applied >= size && (!WantedStepsInFlight().Any() || applied >= size * HardGenerationFactor);
        }

        private IEnumerable<StepRequest> WantedStepsInFlight() => steps.Values.Where(r =>
            state.Task is { } task && task.Number == r.TaskNumber && task.StepInFlight == r.StepNumber);

        private void Start(StepRequest request) =>
            steps.Add(AgentStepRunner.RunAsync(context, request with { InstanceId = context.InstanceId, LastMessageId = state.LastMessageId }, stepPolicy),
                request);

        private async Task<(SessionCommand? Command, string? CommandId)> NextAsync()
        {
            if (pending.TryDequeue(out var queued))
            {
                return Decode(queued);
            }

            commandWait ??= context.WaitForExternalEvent<CommandEnvelope>(CommandEvent);
            ArmIdleTimer();

            var waits = new List<Task>(steps.Count + 2) { commandWait };
            waits.AddRange(steps.Keys);
            if (idleTimer is not null)
            {
                waits.Add(idleTimer);
            }

            var winner = await Task.WhenAny(waits);
            if (winner == commandWait)
            {
                return TakeCommandEvent();
            }

            if (winner is Task<StepOutcome> step && steps.Remove(step, out var request))
            {
                var outcome = step.Result;
                SessionCommand command = outcome.Result is { } result
                    ? new CompleteStep(request.TaskNumber, request.StepNumber, result)
                    : new FailStep(request.TaskNumber, request.StepNumber, outcome.Error ?? "unknown error");
                return (command, null);
            }

            // The idle timer fired; activity since it was armed moves the deadline instead.
            idleTimer = null;
            return context.CurrentUtcDateTime >= IdleDeadline
                ? (new ExpireSession(input.Settings.IdleTimeout), null)
                : (null, null);
        }

        private DateTime IdleDeadline => (state.LastActivityAt + input.Settings.IdleTimeout).UtcDateTime;

        /// <summary>
        /// While a step the session waits for runs, the session is not idle (its result is activity), so the timer waits
        /// until none does: a session whose agent works through a long task then leaves no idle timer pending behind
        /// each ContinueAsNew.
        /// </summary>
        private void ArmIdleTimer()
        {
            if (idleTimer is null && !state.Dormant && !state.Deleted && !(untimedSteps && WantedStepsInFlight().Any()))
            {
                idleTimer = context.CreateTimer(IdleDeadline, timerCancellation.Token);
            }
        }

        private void Record(string commandId, CommandOutcome outcome)
        {
            seen[commandId] = context.CurrentUtcDateTime;
            results = results.Add(CommandResult.From(commandId, outcome, state.VisibleStatus.ToWire()));
            counts = new CommandCounts(counts.Applied + 1, counts.Rejected + (outcome is RejectedOutcome ? 1 : 0));
            if (results.Count > SessionStatusSnapshot.MaxResults)
            {
                results = results.RemoveRange(0, results.Count - SessionStatusSnapshot.MaxResults);
            }
        }

        /// <summary>
        /// Hands notices to the session's webhook dispatcher. A one-way event, so a slow or dead
        /// receiver never holds the session up; events from one orchestration arrive in order.
        /// </summary>
        private void Notify(IReadOnlyList<SessionNotice> notices)
        {
            if (input.Settings.WebhookUrl is null)
            {
                return;
            }

            var dispatcher = WebhookDispatch.InstanceId(context.InstanceId);
            foreach (var notice in notices)
            {
                context.SendEvent(dispatcher, WebhookDispatch.EventName,
                    new WebhookEvent(notice.Event, context.CurrentUtcDateTime, state.SessionId, notice.Data, context.NewGuid().ToString("N")));
            }
        }

        private SessionStatusSnapshot Snapshot() => SessionStatusSnapshot.From(state, results, counts);

        private void Publish() => context.SetCustomStatus(Snapshot());

        /// <summary>
        /// The next generation's input, carrying every command that has already arrived. Events
        /// the runtime buffered but no waiter consumed are taken here and passed on in the input,
        /// rather than trusting the runtime to carry them over ContinueAsNew.
        /// </summary>
        private SessionInput NextGeneration(ImmutableList<StepRequest> carriedSteps)
        {
            var carried = new List<CommandEnvelope>(pending);
            if (commandWait is { IsCompleted: true })
            {
                carried.Add(commandWait.Result);
            }

            if (commandWait is null || commandWait.IsCompleted)
            {
                // A buffered event completes its waiter synchronously; the first waiter that does
                // not complete means the buffer is empty.
                for (var drained = 0; drained < MaxDrainedCommands; drained++)
                {
                    var buffered = context.WaitForExternalEvent<CommandEnvelope>(CommandEvent);
                    if (!buffered.IsCompleted)
                    {
                        break;
                    }

                    carried.Add(buffered.Result);
                }
            }

            var horizon = context.CurrentUtcDateTime - RedeliveryWindow;
            var remembered = seen.Where(s => s.Value >= horizon).OrderByDescending(s => s.Value).Take(MaxRememberedCommands)
                .Select(s => new SeenCommand(s.Key, s.Value)).ToImmutableList();
            return input with
            {
                State = state,
                Pending = [.. carried],
                Results = results,
                Generation = input.Generation + 1,
                LoopVersion = SessionInput.CurrentLoopVersion,
                Counts = counts,
                Steps = carriedSteps.IsEmpty ? null : carriedSteps,
                Seen = remembered,
            };
        }
    }
}
