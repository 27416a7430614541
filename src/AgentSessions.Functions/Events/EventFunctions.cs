using System.Globalization;
using AgentSessions.Functions.Auth;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Sessions;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace AgentSessions.Functions.Events;

/// <summary>
/// <c>GET /v1/sessions/{id}/events</c>: a session's messages and status changes as Server-Sent Events. Everything that
/// can fail with an error body (auth, Accept, query, the session's existence) is checked here, before streaming starts.
/// </summary>
public sealed class EventFunctions(
    ApiKeyAuthenticator auth,
    SessionGatewayFactory gateways,
    IMessageStore store,
    EventStreamOptions options,
    TimeProvider time,
    ILogger<EventFunctions> logger)
{
    public const string LastEventIdHeader = "Last-Event-ID";

    [Function("StreamEvents")]
    public async Task<IActionResult> StreamAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/sessions/{sessionId}/events")] HttpRequest request,
        string sessionId,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken)
    {
        var owner = auth.Authenticate(request);
        var id = SessionFunctions.RequireSessionId(sessionId);
        if (!EventStreamAccept.Allows(request.Headers.Accept))
        {
            throw new ApiException(StatusCodes.Status406NotAcceptable, "not_acceptable",
                $"This endpoint only produces {EventStreamResult.ContentType}; send 'Accept: {EventStreamResult.ContentType}'");
        }

        var includeHistory = Query.Bool(request, "include_history", true);
        var afterId = Query.Long(request, "after_id", 0, 0, long.MaxValue);
        var lastEventId = LastEventId(request);
        var filter = EventTypeFilter.Parse(string.Join(',', request.Query["event_types"].Where(v => v is not null)));
        var sanitize = Query.Bool(request, "sanitize", true);

        var gateway = gateways.Create(client);
        var view = await gateway.GetAsync(owner, id, cancellationToken);

        // A reconnecting EventSource repeats its URL (include_history=false and all) and adds Last-Event-ID: the
        // header is where it left off, so it wins over everything else; otherwise "no history" means "after what
        // exists now".
        var startAfter = lastEventId ?? (includeHistory ? afterId : Math.Max(afterId, view.LastMessageId));
        var sessionKey = SessionIds.InstanceId(owner, id);
        var resumePoint = startAfter > 0
            ? (await store.ReadAsync(sessionKey, startAfter - 1, 1, cancellationToken)).FirstOrDefault(m => m.Id == startAfter)
            : null;

        var stream = new EventStreamRequest(owner, id, startAfter, filter, sanitize, view.Status, resumePoint, view.LastMessageId);
        return new EventStreamResult(stream, gateway, store, options, time, logger, cancellationToken);
    }

    /// <summary>The <c>Last-Event-ID</c> header as a message id; absent or blank is null, anything but a whole number ≥ 0 is 422.</summary>
    private static long? LastEventId(HttpRequest request)
    {
        var raw = request.Headers[LastEventIdHeader].ToString().Trim();
        if (raw.Length == 0)
        {
            return null;
        }

        return long.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw ApiException.InvalidField(LastEventIdHeader, $"must be a whole number from 0 to {long.MaxValue}");
    }
}

/// <summary>Content negotiation for the stream: does the request's <c>Accept</c> allow <c>text/event-stream</c>?</summary>
public static class EventStreamAccept
{
    /// <summary>
    /// True when Accept is absent or blank, unreadable (ignored, as RFC 9110 §12.5.1 allows), or when the most specific
    /// range that matches <c>text/event-stream</c> (itself, then <c>text/*</c>, then <c>*/*</c>) has a quality above 0.
    /// </summary>
    public static bool Allows(StringValues accept)
    {
        if (accept.All(string.IsNullOrWhiteSpace))
        {
            return true;
        }

        if (!MediaTypeHeaderValue.TryParseList(accept, out var ranges) || ranges.Count == 0)
        {
            return true;
        }

        var bestRank = 0;
        var bestQuality = 0.0;
        foreach (var range in ranges)
        {
            var rank = Rank(range);
            var quality = range.Quality ?? 1.0;
            if (rank > bestRank || (rank == bestRank && rank > 0 && quality > bestQuality))
            {
                bestRank = rank;
                bestQuality = quality;
            }
        }

        return bestRank > 0 && bestQuality > 0;
    }

    private static int Rank(MediaTypeHeaderValue range)
    {
        if (range.MatchesAllTypes)
        {
            return 1;
        }

        if (!range.Type.Equals("text", StringComparison.OrdinalIgnoreCase))
        {
            return 0;
        }

        return range.MatchesAllSubTypes ? 2
            : range.SubType.Equals("event-stream", StringComparison.OrdinalIgnoreCase) ? 3
            : 0;
    }
}
