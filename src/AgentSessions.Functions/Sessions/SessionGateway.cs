using System.Collections.Immutable;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Webhooks;
using Grpc.Core;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Functions.Sessions;

/// <summary>What the HTTP side learns after sending a command.</summary>
/// <param name="Pending">The orchestration had not applied the command within the acknowledgement bound.</param>
public sealed record CommandAck(CommandResult? Result, SessionView View, bool Pending);

/// <summary>A request to create a session, already validated.</summary>
/// <param name="StepTimeout">The agent's step timeout, fixed into the session (see <see cref="SessionRuntimeSettings.StepTimeout"/>).</param>
public sealed record NewSession(string AgentName, int MaxSteps, string? Goal, string? StartUrl, Uri? WebhookUrl = null, TimeSpan? StepTimeout = null);

/// <summary>
/// Everything the HTTP functions do to sessions, over the Durable client: start, read, command
/// (and wait for the orchestration's answer), list and delete. All lookups are owner-scoped.
/// </summary>
public sealed class SessionGateway(
    DurableTaskClient client, IMessageStore messages, ISessionClaims claims, SessionsOptions options, TimeProvider time,
    WebhookOptions webhooks)
{
    private static readonly OrchestrationRuntimeStatus[] AnyExisting =
    [
        OrchestrationRuntimeStatus.Pending, OrchestrationRuntimeStatus.Running, OrchestrationRuntimeStatus.Suspended,
        OrchestrationRuntimeStatus.Completed, OrchestrationRuntimeStatus.Failed, OrchestrationRuntimeStatus.Terminated,
    ];

    /// <summary>A restart may replace a failed or terminated orchestration, nothing else.</summary>
    private static readonly OrchestrationRuntimeStatus[] UnlessStopped =
    [
        OrchestrationRuntimeStatus.Pending, OrchestrationRuntimeStatus.Running, OrchestrationRuntimeStatus.Suspended,
        OrchestrationRuntimeStatus.Completed,
    ];

    /// <summary>
    /// Starts a session. With an idempotency key the session id is derived from (owner, key), so a
    /// retried create names the same session; the claim lets only one racing create start it and
    /// the others answer with the session that exists. <c>Created</c> is false for such repeats.
    /// A key whose session was deleted stays used: creating with it again is refused.
    /// </summary>
    public async Task<(SessionView View, bool Created)> CreateAsync(
        string owner, NewSession request, string? idempotencyKey, CancellationToken cancellationToken)
    {
        // Refuses the URL when webhooks are not configured, or when it targets a private network.
        if (request.WebhookUrl is { } webhookUrl)
        {
            await new WebhookUrlGuard(webhooks).EnsureAllowedAsync(webhookUrl, cancellationToken);
        }

        if (idempotencyKey is null)
        {
            return (await StartAsync(SessionIds.InstanceId(owner, Guid.NewGuid().ToString("D")), request, cancellationToken), true);
        }

        var instanceId = SessionIds.InstanceId(owner, SessionIds.FromIdempotencyKey(owner, idempotencyKey));
        var deadline = time.GetUtcNow() + options.AckTimeout;
        foreach (var delay in PollDelays())
        {
            if (await claims.TryClaimAsync(instanceId, cancellationToken))
            {
                return (await StartClaimedAsync(instanceId, request, cancellationToken), true);
            }

            var claim = await claims.GetAsync(instanceId, cancellationToken);
            if (claim is { Deleted: true })
            {
                throw SessionDeleted();
            }

            if (SessionReads.ReadView(await client.GetInstanceAsync(instanceId, getInputsAndOutputs: true, cancellationToken)) is { } existing)
            {
                return existing.Deleted ? throw SessionDeleted() : (existing, false);
            }

            // The create that holds the claim died before it started the session: one waiter takes its place.
            if (claim is not null && time.GetUtcNow() - claim.ClaimedAt > options.StaleClaimAfter
                && await claims.TryTakeOverAsync(claim, cancellationToken))
            {
                return (await StartClaimedAsync(instanceId, request, cancellationToken), true);
            }

            if (time.GetUtcNow() >= deadline)
            {
                throw new ApiException(409, "create_in_progress", "A create with this Idempotency-Key is still in progress; retry shortly");
            }

            await Task.Delay(delay, time, cancellationToken);
        }

        throw new InvalidOperationException("unreachable");
    }

    private static ApiException SessionDeleted() => new(409, "session_deleted",
        "The session this Idempotency-Key created has been deleted; use a new key to create another session");

    /// <summary>Starts the claimed session; a create that fails before the session exists gives its claim back.</summary>
    private async Task<SessionView> StartClaimedAsync(string instanceId, NewSession request, CancellationToken cancellationToken)
    {
        try
        {
            return await StartAsync(instanceId, request, cancellationToken);
        }
        catch (Exception)
        {
            if (await client.GetInstanceAsync(instanceId, CancellationToken.None) is null)
            {
                await claims.ReleaseAsync(instanceId, CancellationToken.None);
            }

            throw;
        }
    }

    private async Task<SessionView> StartAsync(string instanceId, NewSession request, CancellationToken cancellationToken)
    {
        var sessionId = SessionIds.SessionIdOf(instanceId);
        var now = TruncateToMilliseconds(time.GetUtcNow());
        var state = SessionState.New(sessionId, request.AgentName, request.MaxSteps, request.Goal, now);
        var goalCommand = request.Goal is null ? null : new CommandEnvelope(CommandEnvelope.NewId(), CommandEnvelope.Message, request.Goal, request.StartUrl);
        var settings = options.RuntimeSettings with { WebhookUrl = request.WebhookUrl?.ToString(), StepTimeout = request.StepTimeout };
        var input = new SessionInput(state, settings, goalCommand is null ? [] : [goalCommand], [], Generation: 0,
            LoopVersion: SessionInput.CurrentLoopVersion);

        // The dispatcher exists before the session can send it anything.
        if (request.WebhookUrl is not null)
        {
            await WebhookDispatch.StartAsync(client, instanceId, request.WebhookUrl.ToString(), webhooks, cancellationToken);
        }

        await client.ScheduleNewOrchestrationInstanceAsync(SessionOrchestration.Name, input,
            new StartOrchestrationOptions(instanceId).WithDedupeStatuses(AnyExisting), cancellationToken);

        if (goalCommand is null)
        {
            return SessionView.From(state, []);
        }

        // A goal starts a task at once; answer only when the session shows it, so a GET right
        // after the create never sees "ready".
        var ack = await WaitForResultAsync(instanceId, goalCommand, restart: false, cancellationToken);
        return ack.View with { Goal = request.Goal };
    }

    public async Task<SessionView> GetAsync(string owner, string sessionId, CancellationToken cancellationToken)
    {
        var metadata = await client.GetInstanceAsync(SessionIds.InstanceId(owner, sessionId), getInputsAndOutputs: true, cancellationToken);
        return SessionReads.ReadView(metadata) is { Deleted: false } view ? view : throw ApiException.SessionNotFound();
    }

    public async Task<IReadOnlyList<SessionView>> ListAsync(string owner, CancellationToken cancellationToken)
    {
        var query = new OrchestrationQuery
        {
            InstanceIdPrefix = SessionIds.OwnerPrefix(owner),
            FetchInputsAndOutputs = true,
            PageSize = 200,
        };
        var views = new List<SessionView>();
        await foreach (var metadata in client.GetAllInstancesAsync(query).WithCancellation(cancellationToken))
        {
            if (metadata.InstanceId.StartsWith(query.InstanceIdPrefix, StringComparison.Ordinal)
                && SessionReads.ReadView(metadata, withGoal: false) is { Deleted: false } view)
            {
                views.Add(view);
            }
        }

        return [.. views.OrderByDescending(v => v.CreatedAt).ThenByDescending(v => v.SessionId, StringComparer.Ordinal)];
    }

    /// <summary>Sends a command and waits (bounded) until the orchestration has applied it.</summary>
    public Task<CommandAck> SendAsync(string owner, string sessionId, string kind, string? text, string? startUrl, CancellationToken cancellationToken) =>
        DeliverAsync(SessionIds.InstanceId(owner, sessionId), new CommandEnvelope(CommandEnvelope.NewId(), kind, text, startUrl), restart: true,
            cancellationToken);

    /// <summary>
    /// Raises the command and waits for its outcome. No read comes first: the poll right after the raise tells a
    /// missing session just as well, and the Functions host checks the instance before raising anyway.
    /// </summary>
    private async Task<CommandAck> DeliverAsync(string instanceId, CommandEnvelope command, bool restart, CancellationToken cancellationToken)
    {
        try
        {
            await client.RaiseEventAsync(instanceId, SessionOrchestration.CommandEvent, command, cancellationToken);
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            // The host refuses events for an instance that is not running; the backend may also have failed. Which?
            var metadata = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: true, cancellationToken);
            if (SessionReads.ReadView(metadata, withGoal: false) is not { Deleted: false })
            {
                throw ApiException.SessionNotFound();
            }

            if (SessionReads.HasStopped(metadata!))
            {
                return await OnStoppedAsync(metadata!, command, restart, cancellationToken);
            }

            throw SessionReads.IsLive(metadata!) ? ApiException.Unavailable("The command could not be sent; retry shortly", exception)
                : ApiException.SessionNotFound();
        }

        return await WaitForResultAsync(instanceId, command, restart, cancellationToken);
    }

    /// <summary>
    /// A command for a session whose orchestration failed or was stopped: it is answered as the state table says for
    /// <c>error</c>, and one that changes the session (a message) restarts the orchestration from what was kept, with
    /// the command queued behind a <see cref="RecoverSession"/> that records why.
    /// </summary>
    private async Task<CommandAck> OnStoppedAsync(OrchestrationMetadata metadata, CommandEnvelope command, bool restart, CancellationToken cancellationToken)
    {
        var view = SessionReads.ReadView(metadata, withGoal: false)!;
        var input = metadata.ReadInputAs<SessionInput>() ?? throw ApiException.SessionNotFound();
        var snapshot = SessionReads.Snapshot(metadata);
        var reason = SessionReads.FailureReason(metadata);
        var resumed = Resume(input.State, snapshot);
        var recovered = SessionDecider.Decide(resumed, new RecoverSession(reason), time.GetUtcNow()).State;
        var decision = SessionDecider.Decide(recovered, command.ToCommand(), time.GetUtcNow());
        if (decision.Outcome is RejectedOutcome or IgnoredOutcome || !restart)
        {
            return decision.Outcome is AcceptedOutcome
                ? new CommandAck(null, view, Pending: true)
                : new CommandAck(CommandResult.From(command.Id, decision.Outcome, view.Status), view, Pending: false);
        }

        // One restart per failure (named by when the instance last changed); a restarter that died is replaced.
        var failure = "restart." + metadata.LastUpdatedAt.UtcTicks;
        var claimed = await claims.TryClaimAsync(metadata.InstanceId, cancellationToken, failure);
        if (!claimed && await claims.GetAsync(metadata.InstanceId, cancellationToken, failure) is { } held
            && time.GetUtcNow() - held.ClaimedAt > options.StaleClaimAfter)
        {
            claimed = await claims.TryTakeOverAsync(held, cancellationToken);
        }

        if (!claimed)
        {
            // Someone else is restarting it: once it runs again, this command goes the normal way.
            await WaitUntilLiveAsync(metadata.InstanceId, cancellationToken);
            return await DeliverAsync(metadata.InstanceId, command, restart: false, cancellationToken);
        }

        var kept = resumed with { LastMessageId = await LastStoredIdAsync(metadata.InstanceId, resumed.LastMessageId, cancellationToken) };
        var restarted = input with
        {
            State = kept,
            Pending = [new CommandEnvelope(CommandEnvelope.NewId(), CommandEnvelope.Recover, reason), command],
            Results = snapshot?.Results ?? input.Results,
            Counts = snapshot is null ? input.Counts : new CommandCounts(snapshot.Applied, snapshot.Rejected),
            Generation = input.Generation + 1,
            Steps = null,
            LoopVersion = SessionInput.CurrentLoopVersion,
        };
        await client.ScheduleNewOrchestrationInstanceAsync(SessionOrchestration.Name, restarted,
            new StartOrchestrationOptions(metadata.InstanceId).WithDedupeStatuses(UnlessStopped), cancellationToken);
        return await WaitForResultAsync(metadata.InstanceId, command, restart: false, cancellationToken);
    }

    /// <summary>
    /// The state a restart continues from: the last generation's input brought up to what the session last
    /// published (its input is older than that).
    /// </summary>
    private static SessionState Resume(SessionState input, SessionStatusSnapshot? snapshot) => snapshot is null ? input : input with
    {
        LastMessageId = Math.Max(input.LastMessageId, snapshot.LastMessageId),
        TaskCount = Math.Max(input.TaskCount, snapshot.TaskCount),
        CurrentUrl = snapshot.CurrentUrl ?? input.CurrentUrl,
    };

    /// <summary>
    /// The highest message id stored from <paramref name="afterId"/> on: a failed episode may have stored messages
    /// its status never mentioned, and ids are never reused.
    /// </summary>
    private async Task<long> LastStoredIdAsync(string instanceId, long afterId, CancellationToken cancellationToken)
    {
        var last = afterId;
        while (true)
        {
            var page = await messages.ReadAsync(instanceId, last, 1000, cancellationToken);
            if (page.Count == 0)
            {
                return last;
            }

            last = page[^1].Id;
        }
    }

    /// <summary>Ends the session's work and removes everything it owns; false if there was no such session.</summary>
    /// <remarks>
    /// Safe to repeat after a crash half-way: each step works whether or not an earlier attempt did it, and an id
    /// whose instance is already gone still has its messages removed. The Idempotency-Key claim, if any, is kept as
    /// a tombstone (first, so a racing create cannot bring the id back).
    /// </remarks>
    public async Task<bool> DeleteAsync(string owner, string sessionId, CancellationToken cancellationToken)
    {
        var instanceId = SessionIds.InstanceId(owner, sessionId);
        await claims.MarkDeletedAsync(instanceId, cancellationToken);
        var metadata = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: true, cancellationToken);
        var existed = SessionReads.ReadView(metadata, withGoal: false) is { Deleted: false };
        // A work item that was completing while the instance stopped can write it back after the purge; look again.
        if (metadata is not null && SessionReads.IsLive(metadata))
        {
            await StopAsync(instanceId, cancellationToken);
        }

        // The dispatcher gets session.deleted even when the session had to be terminated, and is purged once done.
        await WebhookDispatch.OnSessionDeletedAsync(client, instanceId, webhooks, cancellationToken);
        for (var attempt = 0; metadata is not null && attempt < 5; attempt++)
        {
            if (SessionReads.IsLive(metadata))
            {
                await StopAsync(instanceId, cancellationToken);
            }

            await client.PurgeInstanceAsync(instanceId, cancellationToken);
            metadata = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: false, cancellationToken);
            if (metadata is not null)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * (attempt + 1)), time, cancellationToken);
            }
        }

        await messages.DeleteSessionAsync(instanceId, cancellationToken);
        return existed;
    }

    public async Task DeleteAllAsync(string owner, CancellationToken cancellationToken)
    {
        var sessions = await ListAsync(owner, cancellationToken);
        await Parallel.ForEachAsync(sessions, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
            async (view, token) => await DeleteAsync(owner, view.SessionId, token));
    }

    /// <summary>
    /// Asks the orchestration to end itself (it cancels its timer and stops taking work); if it
    /// does not within the acknowledgement bound, terminates it. Either way it ends terminal, so
    /// purge can remove it.
    /// </summary>
    private async Task StopAsync(string instanceId, CancellationToken cancellationToken)
    {
        try
        {
            await client.RaiseEventAsync(instanceId, SessionOrchestration.CommandEvent,
                new CommandEnvelope(CommandEnvelope.NewId(), CommandEnvelope.Delete), cancellationToken);
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException)
        {
            // Already ended: nothing to stop.
        }

        if (await WaitUntilAsync(instanceId, m => m is null || !SessionReads.IsLive(m), options.AckTimeout, cancellationToken))
        {
            return;
        }

        await client.TerminateInstanceAsync(instanceId, "session deleted", cancellationToken);
        if (!await WaitUntilAsync(instanceId, m => m is null || !SessionReads.IsLive(m), TimeSpan.FromSeconds(30), cancellationToken))
        {
            throw ApiException.Unavailable("The session's orchestration did not stop in time; retry the delete");
        }
    }

    private async Task WaitUntilLiveAsync(string instanceId, CancellationToken cancellationToken)
    {
        if (!await WaitUntilAsync(instanceId, m => m is not null && SessionReads.IsLive(m), options.AckTimeout, cancellationToken))
        {
            throw ApiException.Unavailable("The session is being restarted; retry shortly");
        }
    }

    private async Task<bool> WaitUntilAsync(string instanceId, Func<OrchestrationMetadata?, bool> done, TimeSpan bound, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + bound;
        foreach (var delay in PollDelays())
        {
            if (done(await client.GetInstanceAsync(instanceId, getInputsAndOutputs: false, cancellationToken)))
            {
                return true;
            }

            if (time.GetUtcNow() >= deadline)
            {
                return false;
            }

            await Task.Delay(delay, time, cancellationToken);
        }

        return false;
    }

    private async Task<CommandAck> WaitForResultAsync(string instanceId, CommandEnvelope command, bool restart, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + options.AckTimeout;
        // With a bound too short for raising it early, the copy goes after the bound (the loop ends there first).
        var raiseAgainAt = options.AckTimeout > RaiseAgainLead * 2 ? deadline - RaiseAgainLead : deadline;
        var raisedAgain = false;
        SessionView? last = null;
        foreach (var delay in PollDelays())
        {
            // The command is already on its way: a failed read must not turn into an error the
            // client would retry (and so send the command twice). Keep polling; at worst, 202.
            OrchestrationMetadata? metadata;
            try
            {
                metadata = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: true, cancellationToken);
            }
            catch (Exception exception) when (BackendFailures.IsTransient(exception) && !cancellationToken.IsCancellationRequested)
            {
                if (time.GetUtcNow() >= deadline)
                {
                    if (last is not null)
                    {
                        break;
                    }

                    throw ApiException.Unavailable("The session store could not be read; the command was sent and may still be applied", exception);
                }

                await Task.Delay(delay, time, cancellationToken);
                continue;
            }

            var view = SessionReads.ReadView(metadata, withGoal: false);
            if (view is null || view.Deleted)
            {
                throw ApiException.SessionNotFound();
            }

            last = view;
            if (view.Results.FirstOrDefault(r => r.Id == command.Id) is { } result)
            {
                return new CommandAck(result, view, Pending: false);
            }

            if (SessionReads.HasStopped(metadata!))
            {
                // It stopped before applying this command, which is not lost: it is answered for the stopped session.
                return await OnStoppedAsync(metadata!, command, restart, cancellationToken);
            }

            if (!SessionReads.IsLive(metadata!))
            {
                throw ApiException.SessionNotFound();
            }

            if (time.GetUtcNow() >= deadline)
            {
                break;
            }

            // Shortly before the bound, the command is raised once more (see RaiseAgainAsync), so the 202 still comes
            // within the bound and the copy may even be applied before it.
            if (!raisedAgain && time.GetUtcNow() >= raiseAgainAt)
            {
                raisedAgain = true;
                await RaiseAgainAsync(instanceId, command, cancellationToken);
                continue;
            }

            await Task.Delay(delay, time, cancellationToken);
        }

        if (!raisedAgain)
        {
            await RaiseAgainAsync(instanceId, command, cancellationToken);
        }

        return new CommandAck(null, last!, Pending: true);
    }

    /// <summary>How long before the acknowledgement bound the command is raised again: the wait to the next second and a poll.</summary>
    private static readonly TimeSpan RaiseAgainLead = TimeSpan.FromMilliseconds(1200);

    /// <summary>
    /// Before answering 202, raises the command once more (the orchestration applies an id once, so the copy is
    /// harmless). A command that is late is usually one a worker took from its queue and then died with: that copy
    /// comes back only after the queue's visibility timeout, and commands sent after this answer would overtake it.
    /// The new copy sits in the queue ahead of them. The queue orders messages by insertion time to the second, so
    /// the answer waits for the next second too: a command sent after it is always inserted later.
    /// </summary>
    private async Task RaiseAgainAsync(string instanceId, CommandEnvelope command, CancellationToken cancellationToken)
    {
        try
        {
            await client.RaiseEventAsync(instanceId, SessionOrchestration.CommandEvent, command, cancellationToken);
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            return; // the first copy is on its way; this one was only insurance
        }

        var now = time.GetUtcNow();
        await Task.Delay(TimeSpan.FromTicks(TimeSpan.TicksPerSecond - (now.Ticks % TimeSpan.TicksPerSecond)) + TimeSpan.FromMilliseconds(10), time,
            cancellationToken);
    }

    /// <summary>Polls quickly at first (the orchestration usually answers within tens of ms), then eases off.</summary>
    private static IEnumerable<TimeSpan> PollDelays()
    {
        var delay = TimeSpan.FromMilliseconds(10);
        while (true)
        {
            yield return delay;
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 1.5, 200));
        }
    }

    /// <summary>See <see cref="SessionReads.ReadView"/>.</summary>
    public static SessionView? ReadView(OrchestrationMetadata? metadata) => SessionReads.ReadView(metadata);

    private static DateTimeOffset TruncateToMilliseconds(DateTimeOffset value) =>
        new(value.Ticks - (value.Ticks % TimeSpan.TicksPerMillisecond), TimeSpan.Zero);
}
