using System.Collections.Immutable;
using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace AgentSessions.Functions.Webhooks;

/// <summary>
/// Webhook settings, read once at start-up; a bad value stops the app naming the setting.
/// A missing secret does not stop the app: webhooks are then off, and a create with <c>webhook_url</c> answers 422.
/// A class, not a record, so the secret never shows up in a generated <c>ToString</c>.
/// </summary>
public sealed class WebhookOptions
{
    public const string SigningSecretSetting = "WEBHOOK_SIGNING_SECRET";
    public const string AllowPrivateNetworksSetting = "WEBHOOKS_ALLOW_PRIVATE_NETWORKS";
    public const string RetryScheduleSetting = "WEBHOOKS_RETRY_SCHEDULE_SECONDS";
    public const string RetryWindowSetting = "WEBHOOKS_RETRY_WINDOW_SECONDS";
    public const string LogEventsSetting = "WEBHOOKS_LOG_EVENTS";
    public const string DeleteWaitSetting = "WEBHOOKS_DELETE_WAIT_SECONDS";

    public const int MaxLogEvents = 1000;
    private const int MaxScheduleSteps = 50;
    private static readonly TimeSpan MaxWindow = TimeSpan.FromDays(30);

    /// <summary>Short secrets are easy to guess offline from one signed body.</summary>
    public const int MinSecretLength = 16;

    /// <summary>The HMAC key; null or empty means webhooks are not configured.</summary>
    public string? SigningSecret { get; init; }

    /// <summary>Lets webhook URLs target loopback, private, link-local and metadata addresses. For local development only.</summary>
    public bool AllowPrivateNetworks { get; init; }

    /// <summary>How long one delivery attempt may take, from connecting to the response headers.</summary>
    public TimeSpan DeliveryTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Retry schedule fixed into each dispatcher when it starts (<see cref="WebhookDispatch.StartAsync"/>).</summary>
    public WebhookRetrySchedule Schedule { get; init; } = WebhookRetrySchedule.Default;

    /// <summary>How many of its latest events the delivery log keeps per session.</summary>
    public int LogEventsPerSession { get; init; } = 100;

    /// <summary>
    /// How long a delete waits for the dispatcher to deliver <c>session.deleted</c> and finish, so it can be purged at once;
    /// a dispatcher still retrying after that is purged by the janitor once it has finished.
    /// </summary>
    public TimeSpan DeleteWait { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Activities, timers and events a dispatcher generation takes before it continues as new (tests make it small).</summary>
    public int OperationsPerGeneration { get; init; } = WebhookDispatcherOrchestration.DefaultOperationsPerGeneration;

    public bool IsConfigured => !string.IsNullOrEmpty(SigningSecret);

    public static WebhookOptions FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var secret = configuration[SigningSecretSetting];
        if (string.IsNullOrWhiteSpace(secret))
        {
            secret = null;
        }
        else if (secret.Length < MinSecretLength)
        {
            // The value itself is never echoed.
            throw new InvalidOperationException(
                $"Setting {SigningSecretSetting} is {secret.Length} characters long; use at least {MinSecretLength} (for example 32 random bytes, hex or base64), or leave it empty to turn webhooks off.");
        }

        var window = TimeSpan.FromSeconds(ReadNumber(configuration, RetryWindowSetting, WebhookRetrySchedule.Default.Window.TotalSeconds, 1, MaxWindow.TotalSeconds));
        return new WebhookOptions
        {
            SigningSecret = secret,
            AllowPrivateNetworks = ReadBool(configuration, AllowPrivateNetworksSetting, false),
            Schedule = new WebhookRetrySchedule(ReadDelays(configuration, window), window),
            LogEventsPerSession = (int)ReadNumber(configuration, LogEventsSetting, 100, 1, MaxLogEvents, wholeNumber: true),
            DeleteWait = TimeSpan.FromSeconds(ReadNumber(configuration, DeleteWaitSetting, 5, 0, 60)),
        };
    }

    public override string ToString() =>
        $"WebhookOptions {{ SigningSecret = {(IsConfigured ? "(set)" : "(not set)")}, AllowPrivateNetworks = {AllowPrivateNetworks}, " +
        $"DeliveryTimeout = {DeliveryTimeout}, Schedule = {Schedule}, LogEventsPerSession = {LogEventsPerSession}, DeleteWait = {DeleteWait} }}";

    /// <summary>"5,30,120,600,3600": seconds between attempts, each positive and within the window.</summary>
    private static ImmutableList<TimeSpan> ReadDelays(IConfiguration configuration, TimeSpan window)
    {
        var raw = configuration[RetryScheduleSetting];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return WebhookRetrySchedule.Default.Delays;
        }

        var delays = ImmutableList.CreateBuilder<TimeSpan>();
        foreach (var part in raw.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || !double.IsFinite(seconds)
                || seconds <= 0 || TimeSpan.FromSeconds(seconds) > window || delays.Count >= MaxScheduleSteps)
            {
                throw new InvalidOperationException(
                    $"Setting {RetryScheduleSetting} is '{raw}'; expected 1 to {MaxScheduleSteps} comma-separated numbers of seconds, " +
                    $"each above 0 and at most {RetryWindowSetting} ({window.TotalSeconds.ToString(CultureInfo.InvariantCulture)}), e.g. 5,30,120,600,3600.");
            }

            delays.Add(TimeSpan.FromSeconds(seconds));
        }

        return delays.ToImmutable();
    }

    private static double ReadNumber(IConfiguration configuration, string name, double fallback, double min, double max, bool wholeNumber = false)
    {
        var raw = configuration[name];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return fallback;
        }

        return double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            && (!wholeNumber || value == Math.Floor(value))
            ? value
            : throw new InvalidOperationException($"Setting {name} is '{raw}'; expected a {(wholeNumber ? "whole number" : "number")} from {min} to {max}.");
    }

    private static bool ReadBool(IConfiguration configuration, string name, bool fallback)
    {
        var raw = configuration[name];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return fallback;
        }

        return bool.TryParse(raw.Trim(), out var value)
            ? value
            : throw new InvalidOperationException($"Setting {name} is '{raw}'; expected true or false.");
    }
}
