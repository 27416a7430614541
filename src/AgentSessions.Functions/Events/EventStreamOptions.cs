using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace AgentSessions.Functions.Events;

/// <summary>Settings of the Server-Sent Events stream, read once at start-up; a bad value stops the app naming the setting.</summary>
public sealed record EventStreamOptions
{
    public const string HeartbeatSetting = "SESSIONS_SSE_HEARTBEAT_SECONDS";
    public const string PollSetting = "SESSIONS_SSE_POLL_MILLISECONDS";

    /// <summary>How often a <c>heartbeat</c> event is sent, whatever else the stream carries.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the stream looks for new messages and a changed status.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Messages read from the store at a time; a full batch is followed by the next one without waiting.</summary>
    public int BatchSize { get; init; } = 200;

    /// <summary>Store or status reads that may fail in a row before the stream gives up (the client reconnects with Last-Event-ID).</summary>
    public int MaxConsecutiveFailures { get; init; } = 5;

    public static EventStreamOptions FromConfiguration(IConfiguration configuration) => new()
    {
        HeartbeatInterval = TimeSpan.FromSeconds(Read(configuration, HeartbeatSetting, 30, 1, 3_600)),
        PollInterval = TimeSpan.FromMilliseconds(Read(configuration, PollSetting, 500, 50, 10_000)),
    };

    private static double Read(IConfiguration configuration, string name, double fallback, double min, double max)
    {
        var raw = configuration[name];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return fallback;
        }

        return double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new InvalidOperationException($"Setting {name} is '{raw}'; expected a number from {min} to {max}.");
    }
}
