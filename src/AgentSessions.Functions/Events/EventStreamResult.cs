using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Sessions;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Events;

/// <summary>A validated request for a session's event stream: where it starts and what it carries.</summary>
/// <param name="StartAfter">Messages with ids above this are sent.</param>
/// <param name="ResumePoint">The stored message with id <paramref name="StartAfter"/>, if any: the client already has it.</param>
/// <param name="InitialStatus">The session's status when the stream was opened; paused/resumed are changes from it.</param>
/// <param name="InitialLastMessageId">The last message id that status accounts for.</param>
public sealed record EventStreamRequest(
    string Owner,
    string SessionId,
    long StartAfter,
    EventTypeFilter Filter,
    bool Sanitize,
    string InitialStatus,
    SessionMessage? ResumePoint,
    long InitialLastMessageId = long.MaxValue);

/// <summary>
/// Streams a session's events as <c>text/event-stream</c> until DONE or ERROR has passed, the session is gone or
/// the client leaves.
/// </summary>
/// <remarks>
/// Under the Functions ASP.NET Core integration, an <see cref="IActionResult"/> runs after the function and outside
/// the worker middleware (<see cref="ErrorBodyMiddleware"/> included), so everything that can answer with an error
/// body is checked by the function before it returns this; and this never throws: once the response has started,
/// the only honest way to report a failure is to end the stream (the client reconnects with <c>Last-Event-ID</c>).
/// </remarks>
public sealed class EventStreamResult(
    EventStreamRequest request,
    SessionGateway gateway,
    IMessageStore store,
    EventStreamOptions options,
    TimeProvider time,
    ILogger logger,
    CancellationToken invocationCancellation) : IActionResult
{
    public const string ContentType = "text/event-stream";

    /// <summary>The comment line every stream starts with.</summary>
    public const string OpenedComment = "stream opened";

    public EventStreamRequest Request { get; } = request;

    public async Task ExecuteResultAsync(ActionContext context)
    {
        var http = context.HttpContext;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, invocationCancellation);
        try
        {
            var response = http.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = ContentType;
            response.Headers.CacheControl = "no-cache";
            response.Headers["X-Accel-Buffering"] = "no";
            http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            await response.StartAsync(stop.Token);

            // Body bytes at once: the Functions host forwards the status line and headers only when the first body
            // bytes arrive, so a stream with nothing to replay would otherwise look hung until the first heartbeat.
            var writer = new SseWriter(response.Body);
            await writer.WriteCommentAsync(OpenedComment, stop.Token);

            var ending = await PumpAsync(writer, stop.Token);
            logger.LogDebug("Event stream of session {SessionId} ended: {Ending}", Request.SessionId, ending);
        }
        catch (Exception exception) when (stop.IsCancellationRequested)
        {
            logger.LogDebug(exception, "Event stream of session {SessionId} ended: the client left", Request.SessionId);
        }
        catch (IOException exception)
        {
            logger.LogDebug(exception, "Event stream of session {SessionId} ended: the connection failed", Request.SessionId);
        }
        catch (Exception exception)
        {
            // Nothing above this result maps exceptions (see remarks); a throw here would only fail the invocation.
            logger.LogError(exception, "Event stream of session {SessionId} failed", Request.SessionId);
        }
    }

    private async Task<string> PumpAsync(SseWriter writer, CancellationToken cancellationToken)
    {
        var sessionKey = SessionIds.InstanceId(Request.Owner, Request.SessionId);
        var mapper = new SessionEventMapper(Request.Filter, Request.Sanitize);
        mapper.Seed(Request.ResumePoint);
        var cursor = Request.StartAfter;
        var status = Request.InitialStatus;
        var nextHeartbeat = time.GetUtcNow() + options.HeartbeatInterval;
        var checkStatus = false; // the function has just read it
        var failures = 0;
        var moved = false; // anything sent or any status change since the stream opened
        var statusCovers = Request.InitialLastMessageId; // the last message id the status read last accounts for

        while (true)
        {
            SessionView? view = null;
            IReadOnlyList<SessionMessage> batch;
            try
            {
                if (checkStatus)
                {
                    view = await ReadViewAsync(cancellationToken);
                    if (view is null)
                    {
                        return "the session was deleted";
                    }
                }

                // Status before messages, as GET …/messages does: the messages read next are at least as new.
                batch = await store.ReadAsync(sessionKey, cursor, options.BatchSize, cancellationToken);
                failures = 0;
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested && exception is not ApiException)
            {
                failures++;
                if (failures >= options.MaxConsecutiveFailures)
                {
                    logger.LogWarning(exception, "Event stream of session {SessionId}: {Failures} reads failed in a row; ending the stream",
                        Request.SessionId, failures);
                    return "reads kept failing";
                }

                logger.LogWarning(exception, "Event stream of session {SessionId}: read failed ({Failures} in a row); retrying",
                    Request.SessionId, failures);
                await Task.Delay(options.PollInterval * failures, time, cancellationToken);
                continue;
            }

            checkStatus = true;
            if (view is not null)
            {
                statusCovers = view.LastMessageId;
            }

            if (view is not null && view.Status != status)
            {
                moved = true;
                var change = StatusChangeEvent(status, view.Status);
                status = view.Status;
                if (change is not null && Request.Filter.Allows(change))
                {
                    await writer.WriteAsync(SessionEventMapper.StatusChange(change, status, time.GetUtcNow()), cancellationToken);
                }
            }

            foreach (var message in batch)
            {
                cursor = message.Id;
                await writer.WriteAsync(mapper.Map(message), cancellationToken);
                moved = true;
            }

            // The stream ends when the session has nothing more coming: caught up, and the status
            // (read before these messages, which are stored before the status that follows them)
            // is finished or error. A DONE in the history of a session that has started another
            // task does not end it, nor does a cancelled task end the stream by never sending DONE.
            // A stream opened on an idle session with nothing to replay waits for the next task.
            // Messages newer than that status (a new task's USER message, stored just before the
            // status that says "running" is published) mean the status is already out of date.
            if (moved && batch.Count < options.BatchSize && (status is "finished" or "error") && cursor <= statusCovers)
            {
                return $"caught up at {cursor} with the session {status}";
            }

            var now = time.GetUtcNow();
            if (now >= nextHeartbeat)
            {
                nextHeartbeat = now + options.HeartbeatInterval;
                if (Request.Filter.Allows(SessionEventTypes.Heartbeat))
                {
                    await writer.WriteAsync(SessionEventMapper.Heartbeat(now), cancellationToken);
                }
            }

            if (batch.Count >= options.BatchSize)
            {
                continue; // more history waiting: no pause between batches
            }

            var wait = TimeSpan.FromTicks(Math.Min(options.PollInterval.Ticks, Math.Max(0, (nextHeartbeat - now).Ticks)));
            await Task.Delay(wait, time, cancellationToken);
        }
    }

    /// <summary>The session as it is now; null once it is deleted (or was never this owner's).</summary>
    private async Task<SessionView?> ReadViewAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await gateway.GetAsync(Request.Owner, Request.SessionId, cancellationToken);
        }
        catch (ApiException exception) when (exception.StatusCode == StatusCodes.Status404NotFound)
        {
            return null;
        }
    }

    /// <summary><c>paused</c> on entering the paused status, <c>resumed</c> on leaving it (to whatever status follows).</summary>
    public static string? StatusChangeEvent(string before, string after) =>
        (before, after) switch
        {
            _ when before == after => null,
            (_, "paused") => SessionEventTypes.Paused,
            ("paused", _) => SessionEventTypes.Resumed,
            _ => null,
        };
}
