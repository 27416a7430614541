using System.Text.Json;
using AgentSessions.Functions.Sessions;
using Grpc.Core;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Functions.Webhooks;

/// <summary>How the session side reaches a session's webhook dispatcher: start it, and end it when the session is deleted.</summary>
public static class WebhookDispatch
{
    /// <summary>The one external event every webhook event travels in; one name keeps them in order.</summary>
    public const string EventName = "webhook";

    /// <summary>A user's request to send a logged event again (<see cref="WebhookRedelivery"/>).</summary>
    public const string RedeliverEventName = "webhook-redeliver";

    /// <summary>'|' cannot appear in owner names, so dispatchers never show up in an owner's prefix query.</summary>
    public const string InstancePrefix = "wh|";

    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

    /// <summary>The dispatcher of the session whose instance id is <paramref name="sessionInstanceId"/> (<c>owner:uuid</c>).</summary>
    public static string InstanceId(string sessionInstanceId) => InstancePrefix + sessionInstanceId;

    /// <summary>The session instance id (<c>owner:uuid</c>) a dispatcher belongs to: the delivery log's partition.</summary>
    public static string SessionKeyOf(string dispatcherInstanceId) =>
        dispatcherInstanceId.StartsWith(InstancePrefix, StringComparison.Ordinal) ? dispatcherInstanceId[InstancePrefix.Length..] : dispatcherInstanceId;

    /// <summary>
    /// Starts the dispatcher for a new session, with the retry schedule fixed into its input. Call it before the session
    /// orchestration is scheduled, so no event can be sent to a dispatcher that does not exist yet. Returns its instance id.
    /// </summary>
    public static Task<string> StartAsync(DurableTaskClient client, string sessionInstanceId, string url, WebhookOptions options,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrEmpty(sessionInstanceId);
        ArgumentException.ThrowIfNullOrEmpty(url);
        ArgumentNullException.ThrowIfNull(options);
        return client.ScheduleNewOrchestrationInstanceAsync(
            WebhookDispatcherOrchestration.Name,
            new WebhookDispatcherInput(url, [], 0, Schedule: options.Schedule, OperationsPerGeneration: options.OperationsPerGeneration),
            new StartOrchestrationOptions(InstanceId(sessionInstanceId)),
            cancellationToken);
    }

    /// <summary>
    /// The dispatcher's part of deleting a session; call it once the session orchestration has ended and before it is purged.
    /// Sends <c>session.deleted</c> (a session that had to be terminated never sent it; the dispatcher keeps only the first
    /// one it gets), waits up to <see cref="WebhookOptions.DeleteWait"/> for the dispatcher to deliver what it holds and
    /// finish, and purges it. A dispatcher still retrying after that is purged by <see cref="WebhookJanitor"/> once it has
    /// finished. Safe to call again: a second delete finishes what a first one left.
    /// </summary>
    public static async Task OnSessionDeletedAsync(DurableTaskClient client, string sessionInstanceId, WebhookOptions options,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        var dispatcherId = InstanceId(sessionInstanceId);
        var metadata = await client.GetInstanceAsync(dispatcherId, getInputsAndOutputs: false, cancellationToken);
        if (metadata is null)
        {
            return;
        }

        if (!metadata.IsCompleted)
        {
            await SendDeletedAsync(client, dispatcherId, DateTimeOffset.UtcNow, cancellationToken);
            if (options.DeleteWait <= TimeSpan.Zero)
            {
                return;
            }

            using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bound.CancelAfter(options.DeleteWait);
            try
            {
                await client.WaitForInstanceCompletionAsync(dispatcherId, getInputsAndOutputs: false, bound.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Still delivering (the receiver is away): the janitor purges it once it has finished.
                return;
            }
        }

        await client.PurgeInstanceAsync(dispatcherId, cancellationToken);
    }

    /// <summary>Raises <c>session.deleted</c> on a dispatcher; one that ended in the meantime needs nothing.</summary>
    internal static async Task SendDeletedAsync(DurableTaskClient client, string dispatcherId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var sessionId = SessionIds.SessionIdOf(SessionKeyOf(dispatcherId));
        var deleted = new WebhookEvent(WebhookEventNames.SessionDeleted, TruncateToMilliseconds(now), sessionId, EmptyObject);
        try
        {
            await client.RaiseEventAsync(dispatcherId, EventName, deleted, cancellationToken);
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException)
        {
            // Ended in between: it has nothing left to deliver.
        }
    }

    private static DateTimeOffset TruncateToMilliseconds(DateTimeOffset value) =>
        new(value.UtcTicks - (value.UtcTicks % TimeSpan.TicksPerMillisecond), TimeSpan.Zero);
}
